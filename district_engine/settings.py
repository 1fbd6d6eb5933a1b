"""The engine's settings: one pydantic-settings class, read from ``DE_*`` environment variables.

Library functions never read the environment; entry points (CLI, server) build a Settings and
pass what is needed down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "engine_options", "worker_options", "guides_options"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DE_", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        description="redis://, rediss:// (TLS) or a Redis Cluster node; unset: start an embedded redis-server",
    )
    data_dir: Path = Field(default=Path(".district-engine"), description="where the embedded server keeps its AOF")
    redis_appendfsync: Literal["always", "everysec", "no"] = Field(
        default="everysec", description="AOF fsync policy of the embedded server"
    )
    redis_timeout_ms: int = Field(default=500, ge=10, le=60_000, description=(
        "the longest any one Redis call may take (connecting, or a reply); past it the request answers 503"))
    admin_token: str | None = Field(default=None, description="bearer token that may create operators and channels")
    auth_cache_s: float = Field(default=2.0, ge=0, le=60, description=(
        "how long a process trusts a key lookup; a key revoked elsewhere stops working within this"))
    trusted_proxies: str = Field(default="", description=(
        "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed "
        "(a client address counts only in user-token calls' rate limits)"))
    position_ttl_s: int = Field(default=1800, ge=60, le=86_400, description="how long a last position is kept")
    reentry_gap_s: int = Field(default=900, ge=0, description="out of reach this long, a user entering again is re-offered")
    resync_s: float = Field(default=300, gt=0, description="full reload of districts and campaigns, a backstop")
    grab_limit_per_user: int = Field(default=5, ge=1, description="grab attempts per user per window")
    grab_limit_per_ip: int = Field(default=200, ge=1, description="grab attempts per device address per window "
                                   "(user-token calls only: a channel's backend is one address for many users)")
    operator_calls_per_minute: int = Field(default=1200, ge=0, description=(
        "requests per minute from one operator, over every process, but for its orders (0: no limit)"))
    operator_orders_per_minute: int = Field(default=60_000, ge=0, description=(
        "orders (POST /v1/orders) per minute from one operator, over every process (0: no limit)"))
    grab_limit_per_channel: int = Field(default=50_000, ge=1, description="grab attempts per channel per window")
    grab_window_s: float = Field(default=10, gt=0, description="the rate limits' sliding window")
    wait_replicas: int = Field(default=0, ge=0, le=5, description="money answers (grabs, gate decisions) are given once "
                               "this many replicas have them (WAIT): 1 on replicated Redis, so that a failover loses none")
    wait_ms: int = Field(default=200, ge=1, le=5000, description="how long a money answer waits for its replicas, then 503")
    max_pushes_per_hour: int = Field(default=5, ge=0, description="pushes per user per hour, all campaigns; the rest stay in the feed")
    push_allow_private_urls: bool = Field(default=False, description="the old name of DE_ALLOW_PRIVATE_WEBHOOKS, still honoured")
    push_timeout_s: float = Field(default=5.0, gt=0, le=60, description="a webhook POST's timeout")
    push_reclaim_idle_s: float = Field(default=60, gt=0, description="work a dead worker held is taken back after this long")
    payment_url: str | None = Field(default=None, description="an HTTP payment gateway; unset: charges go to the engine's own ledger")
    payment_secret: str | None = Field(default=None, description="whsec_... that signs the charge requests to payment_url")
    parking_on_payment_failure: Literal["open_and_bill", "pay_at_gate"] = Field(
        default="open_and_bill", description="when a charge fails: let the car out and charge later, or ask it to pay")
    parking_retry_s: float = Field(default=30, gt=0, description="how often a failed charge is tried again")
    worker: bool = Field(default=True, description="serve also runs the push worker in-process (one per server)")
    max_body_bytes: int = Field(default=1 << 20, description="largest request body accepted")
    direct_routes: bool = Field(default=True, description=(
        "serve the hot routes past the framework (api/fastpath.py); false: as plain FastAPI routes, the same "
        "answers (for comparing the two, docs/api.md)"))
    offer_json_campaigns: int = Field(default=20_000, ge=0, description=(
        "how many campaigns' offer JSON each process keeps serialized around the distance (api/fastpath.py); "
        "0: every offer serialized whole"))
    partitions: int | None = Field(default=None, ge=1, le=1024, description=(
        "how many partitions a new deployment spreads its users over (unset: 16); each is a Cluster slot, "
        "so at most this many primaries serve location updates. Fixed at the first start and kept in Redis: "
        "a deployment keeps its count (docs/scaling.md)"))
    parking_charge_attempts: int = Field(default=5, ge=1, le=20, description=(
        "how many times a declined charge of a car that left is tried again, the waits growing from "
        "parking_retry_s to span about 72 h; then the session goes to its lot's review list"))

    quota_districts_per_operator: int = Field(default=1000, ge=0, description="districts one operator may have (0: no limit)")
    quota_live_campaigns_per_district: int = Field(default=200, ge=0, description=(
        "live or scheduled campaigns per district (0: no limit)"))
    quota_lots_per_district: int = Field(default=50, ge=0, description="parking lots per district (0: no limit)")
    quota_guides_per_district: int = Field(default=1000, ge=0, description="guides per district (0: no limit)")
    guide_binding_days: int = Field(default=365, ge=1, le=3650, description=(
        "a member's binding to a guide is protected this long after that guide's last service of the member: "
        "another guide's service is refused (409) until then (docs/guides.md)"))
    order_max_age_days: int = Field(default=30, ge=1, le=366, description=(
        "how far behind the server clock an order's time may be (a late-reported order); older is a 422"))
    metrics_token: str | None = Field(default=None, description="when set, GET /metrics needs Authorization: Bearer <it>")
    allow_private_webhooks: bool = Field(default=False, description=(
        "development only: push endpoints may be on loopback, private, link-local... addresses "
        "(otherwise refused at registration and at every connection)"))
    max_endpoints_per_owner: int = Field(default=10, ge=1, le=1000, description="push endpoints one operator or channel may have")
    push_endpoint_concurrency: int = Field(default=128, ge=1, le=1024, description=(
        "webhook POSTs in flight to one endpoint per sender process; more wait their turn while it "
        "answers quickly, or go to the retries while it hangs or is slow"))
    push_breaker_failures: int = Field(default=5, ge=1, description="failures in a row that open an endpoint's circuit breaker")
    push_breaker_cooldown_s: float = Field(default=10, gt=0, le=3600, description=(
        "how long an open breaker sends nothing before one probe (doubling while probes fail, up to 5 min)"))

    @property
    def private_webhooks_allowed(self) -> bool:
        return self.allow_private_webhooks or self.push_allow_private_urls

    @model_validator(mode="after")
    def _wait_within_timeout(self) -> "Settings":
        if self.wait_replicas and self.wait_ms >= self.redis_timeout_ms:  # WAIT blocks on the server
            raise ValueError("DE_WAIT_MS must be shorter than DE_REDIS_TIMEOUT_MS")
        return self


def engine_options(settings: Settings) -> dict:
    """The Engine's keyword arguments from the settings."""
    from district_engine.parking.payments import HttpGateway
    from district_engine.quotas import Quotas

    gateway = None
    if settings.payment_url:
        if not settings.payment_secret:
            raise ValueError("DE_PAYMENT_SECRET (whsec_...) is required with DE_PAYMENT_URL")
        gateway = HttpGateway(settings.payment_url, settings.payment_secret)
    return dict(position_ttl_s=settings.position_ttl_s, reentry_gap_s=settings.reentry_gap_s,
                grab_limits=(settings.grab_limit_per_user, settings.grab_limit_per_ip,
                             settings.grab_limit_per_channel),
                grab_window_s=settings.grab_window_s, wait=(settings.wait_replicas, settings.wait_ms),
                max_pushes_per_hour=settings.max_pushes_per_hour,
                payment_gateway=gateway, on_payment_failure=settings.parking_on_payment_failure,
                parking_retry_s=settings.parking_retry_s, partitions=settings.partitions,
                quotas=Quotas(settings.quota_districts_per_operator, settings.quota_live_campaigns_per_district,
                              settings.quota_lots_per_district),
                parking_charge_attempts=settings.parking_charge_attempts, guides=guides_options(settings),
                max_endpoints_per_owner=settings.max_endpoints_per_owner,
                private_webhooks_allowed=settings.private_webhooks_allowed)


def worker_options(settings: Settings) -> dict:
    """The Worker's keyword arguments from the settings."""
    return dict(reclaim_idle_s=settings.push_reclaim_idle_s,
                sender_options=dict(timeout_s=settings.push_timeout_s, reclaim_idle_s=settings.push_reclaim_idle_s,
                                    allow_private=settings.private_webhooks_allowed,
                                    endpoint_concurrency=settings.push_endpoint_concurrency,
                                    breaker_failures=settings.push_breaker_failures,
                                    breaker_cooldown_s=settings.push_breaker_cooldown_s,
                                    lease_s=max(settings.push_reclaim_idle_s, 2 * settings.push_timeout_s)))


def guides_options(settings: Settings) -> dict:
    """The guides service's keyword arguments from the settings (district_engine/guides/service.py)."""
    return dict(binding_days=settings.guide_binding_days, order_max_age_days=settings.order_max_age_days,
                guides_per_district=settings.quota_guides_per_district)
