"""Secrets that cannot leak by accident.

A :class:`Secret` prints as ``***`` everywhere (repr, str, f-strings, logging,
attrs reprs of settings). Only :meth:`Secret.reveal` gives the value, and only
codecs that put it on the wire call it. :class:`Redactor` scrubs the values a
connection knows from vendor bodies and messages before they reach an error.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any, Iterable

MASK = "***"

_registry: weakref.WeakSet[Redactor] = weakref.WeakSet()
_registry_lock = threading.Lock()


def live_redactors() -> list[Redactor]:
    """Every redactor still alive (the logging filter's source of secrets)."""
    with _registry_lock:
        return list(_registry)


_SENSITIVE_KEY = re.compile(
    r"(secret|token|password|passwd|authorization|private[_-]?key|api[_-]?key|signature|credential)",
    re.IGNORECASE,
)


class Secret:
    """A string that never shows itself; compare with ``==`` in constant time."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a string, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # constant-time compare; imported on use, off `import eventkit`'s path

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("secrets are not picklable")


class Redactor:
    """Replaces known secret values, and values under sensitive keys, with ``***``.

    Every redactor is also entered in a process-wide registry (held weakly) that
    eventkit's logging filter reads, so its secrets are masked in every log line,
    third-party libraries' included, for as long as the redactor lives.
    """

    __slots__ = ("__weakref__", "_values")

    def __init__(self, secrets: Iterable[str | Secret | None] = ()) -> None:
        values = {s.reveal() if isinstance(s, Secret) else s for s in secrets}
        # Longest first so a secret containing another is masked whole; very short
        # values would mask ordinary text and are not secrets worth the name.
        self._values = sorted((v for v in values if v and len(v) >= 4), key=len, reverse=True)
        if self._values:
            with _registry_lock:
                _registry.add(self)
            from ._logging import install_secret_filter  # here: _logging imports this module

            install_secret_filter()

    def values(self) -> list[str]:
        """The secret values themselves, for the logging filter only."""
        return list(self._values)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        if isinstance(value, dict):
            return {
                key: MASK
                if isinstance(key, str) and _SENSITIVE_KEY.search(key) and item not in (None, "")
                else self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value
