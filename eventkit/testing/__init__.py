"""Testing tools: loopback servers, vendor emulators and the conformance suite.

Emulators speak each vendor's wire protocol on 127.0.0.1 so integration tests
(eventkit's and its users') run the real providers without vendor accounts.
"""

from .._asgi import BodyTooLargeError, answer, answer_json, read_body
from ._background import AsgiServer, BackgroundLoop, BackgroundServer, TcpServer, free_port
from .helpers import assert_received_equals_sent, for_each_provider

__all__ = [
    "AsgiServer",
    "BodyTooLargeError",
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
