"""Logging setup: plain text for people, or one JSON object per line for log pipelines.

Every line carries the context it was logged in as fields: the role (set once per
process), and the zone, plan generation or pool bound by the loop doing the work
(`bound`/`bind`, context variables, so each zone worker thread has its own). Fields
passed with `extra={"planguard": {...}}` are merged on top. Nothing here ever sees a TSIG
secret: keys are loaded into dnspython's keyring and never logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from planguard.core import timefmt

_context: ContextVar[dict[str, Any] | None] = ContextVar("planguard_log_context", default=None)
_process: dict[str, Any] = {}


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Adds `fields` to every log line of this context (thread, task) until the block ends."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Adds `fields` for the rest of the current context: a reconcile running in its own
    copied context (asyncio.to_thread) binds the generation it works on."""
    _context.set({**(_context.get() or {}), **fields})


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {**_process, **(_context.get() or {}), **(getattr(record, "planguard", None) or {})}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.planguard = fields(record)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": timefmt.millis(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "planguard", None) or {})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extra = getattr(record, "planguard", None) or {}
        tail = " ".join(f"{k}={v}" for k, v in extra.items())
        return super().format(record) + (f" [{tail}]" if tail else "")


def setup(level: str, fmt: str, role: str = "") -> None:
    if role:
        _process["role"] = role
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # one line per watch event
