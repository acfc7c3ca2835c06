"""Log lines an operator can use: timestamps, JSON, no secrets, no floods.

Three pieces, each for one reason:

* :class:`SecretFilter` redacts every secret eventkit knows of (the values of every
  live :class:`~eventkit._secrets.Redactor`, held weakly in a process-wide registry)
  and the credential-bearing parts of URLs and headers (``user:pass@``,
  ``api_key=``/``token=``/``authorization=`` query values, ``Authorization:``
  headers) from every record. :func:`install_secret_filter` puts it on eventkit's
  loggers *and* on the third-party loggers eventkit drives (websockets prints
  handshake headers at DEBUG, httpx prints request URLs at INFO, ...). It runs on
  the emitting logger, so it works whatever handlers the application set up.
* :class:`Throttle` keeps a repeating WARNING (a forged webhook per request, a
  refused connection per retry) to one line per interval per kind, with the count
  it held back, so a flood cannot fill a disk yet nothing goes unseen.
* :func:`configure` is the command line's handler: timestamps by default,
  ``--log-format json`` for log shippers.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
import threading
import time
from typing import Any, Iterable, TextIO
from urllib.parse import quote, quote_plus

from ._secrets import MASK, Redactor, live_redactors

_cache: tuple[frozenset[tuple[int, tuple[str, ...]]], list[str]] = (frozenset(), [])


def known_secrets() -> list[str]:
    """Every live secret value (every live :class:`Redactor`'s), with its URL-encoded forms, longest first."""
    global _cache
    redactors = live_redactors()
    key = frozenset((id(r), tuple(r.values())) for r in redactors)
    if key == _cache[0]:
        return _cache[1]
    values: set[str] = set()
    for redactor in redactors:
        for value in redactor.values():
            values.update((value, quote(value, safe=""), quote_plus(value)))
    result = sorted((v for v in values if len(v) >= 4), key=len, reverse=True)
    _cache = (key, result)
    return result


def register(*secrets: str) -> Redactor:
    """Redact these values from every log line while the returned redactor is referenced."""
    return Redactor(secrets)


# Credentials that have a shape, whoever's they are.
_USERINFO = re.compile(r"(?P<keep>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+(?=@)")
_QUERY = re.compile(
    r"(?P<keep>[?&;](?:api[_-]?key|apikey|authorization|auth|access[_-]?token|token|secret|password|passwd|"
    r"signature|sig|jwt)=)[^&\s'\"#]+",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"(?P<keep>\b(?:proxy-)?authorization['\"]?\s*[:=,]\s*['\"]?(?:(?:basic|bearer|digest|token)\s+)?)"
    r"[^\s'\",)\]]+",
    re.IGNORECASE,
)
_PARTIAL_MIN = 8
"""A secret's first or last characters this long, next to an ellipsis, count as the secret
(websockets shortens a long frame to ``start...end`` at DEBUG)."""


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret and every credential-shaped value masked."""
    values = known_secrets() if secrets is None else list(secrets)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    if "..." in text or "\u2026" in text:
        text = _redact_partials(text, values)
    if "://" in text:
        text = _USERINFO.sub(lambda m: m.group("keep") + MASK, text)
    if "=" in text:
        text = _QUERY.sub(lambda m: m.group("keep") + MASK, text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _HEADER.sub(lambda m: m.group("keep") + MASK, text)
    return text


def _redact_partials(text: str, values: list[str]) -> str:
    for value in values:
        if len(value) <= _PARTIAL_MIN:
            continue
        for size in range(len(value) - 1, _PARTIAL_MIN - 1, -1):
            tail, head = value[-size:], value[:size]
            if tail in text:
                text = text.replace(tail, MASK)
            if head in text:
                text = text.replace(head, MASK)
    return text


class SecretFilter(logging.Filter):
    """Rewrites a record's message (and traceback) with secrets masked; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_eventkit_redacted", False):
            return True
        secrets = known_secrets()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the caller's bug; show it, redacted
            message = f"{record.msg!r} % {record.args!r}"
        clean = redact(message, secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        record._eventkit_redacted = True
        return True


THIRD_PARTY_LOGGERS = (
    "websockets",
    "websockets.client",
    "websockets.server",
    "websockets.protocol",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.access",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.util.retry",
)
"""Loggers of the libraries eventkit drives. A logger's filters see only its own
records, not its children's, so every logger that emits is named."""

_FILTER = SecretFilter()
_installed: set[str] = set()


def install_secret_filter(extra: Iterable[str] = ()) -> SecretFilter:
    """Put the one :class:`SecretFilter` on eventkit's and the driven libraries' loggers.

    Idempotent and cheap after the first call; also covers ``eventkit.*`` loggers
    created since the last call (plugins create theirs when imported).
    """
    names = set(THIRD_PARTY_LOGGERS) | set(extra) | {"eventkit"}
    names.update(
        name for name in list(logging.root.manager.loggerDict) if name == "eventkit" or name.startswith("eventkit.")
    )
    for name in names - _installed:
        logging.getLogger(name).addFilter(_FILTER)
        _installed.add(name)
    return _FILTER


class Throttle:
    """At most one record per ``interval`` seconds per kind; the next one says how many it held back."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """Log at WARNING unless ``kind`` was logged within the interval; True if it was written."""
        return self.log(logging.WARNING, kind, message, *args)

    def log(self, level: int, kind: str, message: str, *args: object) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            message += " (%d more like this in the last %gs not shown)"
            args = (*args, held, self.interval)
        self.logger.log(level, message, *args)
        return True


class ThrottleFilter(logging.Filter):
    """For a logger that is not ours: records whose message starts with one of ``prefixes``
    pass at most once per ``interval`` seconds each (uvicorn warns once per refused request)."""

    def __init__(self, prefixes: Iterable[str], interval: float = 60.0) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        kind = next((p for p in self.prefixes if message.startswith(p)), None)
        if kind is None:
            return True
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this in the last {self.interval:g}s not shown)"
            record.args = ()
        return True


class _TextFormatter(logging.Formatter):
    """``2026-12-03T18:03:20.123Z WARNING eventkit.webhooks: ...`` (UTC, ISO 8601)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` (+ ``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False, default=str)


def _iso(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


LOG_FORMATS = ("text", "json")


def configure(level: int, log_format: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """The command line's logging: one stderr handler on the root logger, redacting, formatted.

    Replaces a handler this function installed before (tests call ``main`` many
    times in one process) and leaves everyone else's alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_eventkit_cli", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._eventkit_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else _TextFormatter())
    handler.addFilter(_FILTER)  # records from loggers nobody named are redacted here
    root.addHandler(handler)
    root.setLevel(level)
    install_secret_filter()
    return handler
