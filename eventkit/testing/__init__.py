"""The vendor-neutral testing kit: loopback servers, faults, helpers, the conformance suite.

Each vendor's emulator and sandbox live beside its plugin
(``eventkit_<vendor>.testing.emulator`` / ``.sandbox``), built from this kit: an
emulator speaks the vendor's wire protocol on 127.0.0.1 so integration tests
(eventkit's and its users') run the real providers without vendor accounts.
This package holds what every vendor shares: :class:`AsgiServer` /
:class:`TcpServer` on a background loop, the ASGI helpers, seeded faults
(:mod:`.faults`), the :class:`~.sandbox.Sandbox` base with the round-trip
driver (:func:`round_trip`, a coroutine, and :func:`round_trip_sync`),
:class:`ProviderCase`, the conformance suite and the pytest plugin.
"""

from typing import TYPE_CHECKING, Any

from .._asgi import BodyTooLargeError, answer, answer_json, read_body
from ._background import (
    AsgiServer,
    BackgroundLoop,
    BackgroundServer,
    BlockingControlError,
    HostedEmulator,
    TcpServer,
    free_port,
    refuse_on_running_loop,
)
from .case import ProviderCase
from .helpers import assert_received_equals_sent, for_each_provider

if TYPE_CHECKING:
    from .sandbox import RoundTrip, round_trip, round_trip_sync

_LAZY = {"RoundTrip", "round_trip", "round_trip_sync"}
"""Names from :mod:`.sandbox`, imported on first use: the pytest plugin loads this package at
start-up and must not load the sandboxes (nor anything they import) for a session that uses none."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsgiServer",
    "BodyTooLargeError",
    "HostedEmulator",
    "BackgroundLoop",
    "BackgroundServer",
    "BlockingControlError",
    "ProviderCase",
    "RoundTrip",
    "TcpServer",
    "answer",
    "answer_json",
    "assert_received_equals_sent",
    "for_each_provider",
    "free_port",
    "read_body",
    "refuse_on_running_loop",
    "round_trip",
    "round_trip_sync",
]
