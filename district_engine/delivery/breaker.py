"""A circuit breaker for one endpoint. Pure: the caller passes the time and reports outcomes.

Closed, it lets every delivery through. After ``failures_to_open`` failures in a row it opens: no
delivery is tried until ``cooldown_s`` has passed. Then it is half-open: one probe goes through;
its success closes the breaker, its failure opens it again for twice as long (up to
``max_cooldown_s``), so an endpoint that stays down costs one request per cool-down, not one per
delivery."""

from __future__ import annotations

__all__ = ["Breaker"]


class Breaker:
    def __init__(self, failures_to_open: int = 5, cooldown_s: float = 10.0, max_cooldown_s: float = 300.0):
        if failures_to_open < 1:
            raise ValueError("failures_to_open counts from 1")
        self.failures_to_open = failures_to_open
        self.base_cooldown_s = self.cooldown_s = cooldown_s
        self.max_cooldown_s = max(cooldown_s, max_cooldown_s)
        self.failures = 0  # in a row
        self.open_until = 0.0
        self._probing = False

    def state(self, now: float) -> str:
        """"closed", "open" (nothing goes through before ``open_until``) or "half_open"."""
        if self.failures < self.failures_to_open:
            return "closed"
        return "open" if now < self.open_until or self._probing else "half_open"

    def allow(self, now: float) -> bool:
        """Whether a delivery may be tried now; in half-open state the first caller gets the
        probe and must report its outcome (``record``)."""
        state = self.state(now)
        if state == "half_open":
            self._probing = True
        return state != "open"

    def record(self, ok: bool, now: float) -> None:
        """The outcome of a delivery that ``allow`` let through."""
        if ok:
            self.failures, self._probing, self.cooldown_s = 0, False, self.base_cooldown_s
            return
        self.failures += 1
        if self._probing:  # the probe failed: stay away longer
            self._probing = False
            self.cooldown_s = min(2 * self.cooldown_s, self.max_cooldown_s)
            self.open_until = now + self.cooldown_s
        elif self.failures == self.failures_to_open:
            self.open_until = now + self.cooldown_s
        # Later failures of requests already in flight when it opened do not push the probe back.
