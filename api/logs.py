"""Structured JSON logs: one line per event, with the request id that the response also carries."""

from __future__ import annotations

import json
import logging
import time

__all__ = ["JsonFormatter", "configure", "access_log"]

access_log = logging.getLogger("district_engine.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for the engine's loggers (the server calls this once per process)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("district_engine")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
