"""The vendor-neutral testing kit: loopback servers, faults, helpers, the conformance suite.

Each vendor's emulator and sandbox live beside its plugin
(``eventkit_<vendor>.testing.emulator`` / ``.sandbox``), built from this kit: an
emulator speaks the vendor's wire protocol on 127.0.0.1 so integration tests
(eventkit's and its users') run the real providers without vendor accounts.
This package holds what every vendor shares: :class:`AsgiServer` /
:class:`TcpServer` on a background loop, the ASGI helpers, seeded faults
(:mod:`.faults`), the :class:`~.sandbox.Sandbox` base with the round-trip
driver, the conformance suite and the pytest plugin.
"""

from .._asgi import BodyTooLargeError, answer, answer_json, read_body
from ._background import AsgiServer, BackgroundLoop, BackgroundServer, HostedEmulator, TcpServer, free_port
from .helpers import assert_received_equals_sent, for_each_provider

__all__ = [
    "AsgiServer",
    "BodyTooLargeError",
    "HostedEmulator",
    "BackgroundLoop",
    "BackgroundServer",
    "TcpServer",
    "answer",
    "answer_json",
    "assert_received_equals_sent",
    "for_each_provider",
    "free_port",
    "read_body",
]
