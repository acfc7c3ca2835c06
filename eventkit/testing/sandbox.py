"""Sandboxes: one vendor emulator plus everything a real provider needs to use it.

A sandbox starts an emulator on loopback and says how to connect the real
provider to it (``settings``), where to send so the event comes back
(``target``, ``sender``), how to listen (``listen_via``, ``listen_options``,
``on_listening``) and what a listener should see under the provider's
documented mapping (``expected``). ``eventkit demo`` and the pytest plugin are
both built on these, so a user's cross-vendor test runs exactly what the demo
shows. Each sandbox also answers ``inject_error`` and ``requests_seen``, so it
can serve as a conformance harness.

Credentials here are made up per run (the Vonage RSA key is generated at
start); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import importlib.util as importlib_util
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

import eventkit
from eventkit import Event, EventkitError, SendResult
from eventkit.provider import HttpRequest

SIGNALWIRE_CALL = "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"
VONAGE_CONVERSATION = "CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b"
VONAGE_MEMBER = "MEM-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
VONAGE_APPLICATION = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
ARI_APP = "eventkit-sandbox"

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5.0}
"""Transport settings for loopback: a failure shows in milliseconds, not after real backoff."""


@attrs.frozen
class Wire:
    """What one send put on the wire, as the demo prints it."""

    summary: str
    """An HTTP request line (path only: no host, no query, so no credential) or an AMI action."""
    size: int
    """Bytes of the request body or of the whole AMI action."""
    text: str = ""
    """The body or action itself (may be long; the demo shows ``summary`` and ``size``)."""


class Sandbox:
    """Base: a started emulator and how the real provider reaches it. Subclasses fill it in."""

    name: ClassVar[str]
    """The sandbox's own name (``asterisk-ami``); a provider may have several (one per wire)."""
    provider: ClassVar[str]
    """The provider's registered name (``asterisk``)."""
    label: ClassVar[str]
    target: ClassVar[str]
    sender: ClassVar[str | None] = None
    listen_via: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    """Modules the emulator or the provider's listener needs (an extra of eventkit)."""
    error_statuses: ClassVar[tuple[int, ...]] = (400, 401, 403, 404, 429, 503)
    """Statuses ``inject_error`` can make the platform answer (the conformance suite's error checks)."""
    supports_retry_after: ClassVar[bool] = True
    wire_seen_by_emulator: ClassVar[bool] = False
    """True when ``wire`` reads what the emulator received (so it is asked after the send)."""

    def __init__(self) -> None:
        self.running = False

    # Lifecycle

    def start(self) -> Sandbox:
        if not self.running:
            self._start()
            self.running = True
        return self

    def close(self) -> None:
        if self.running:
            self.running = False
            self._close()

    def _start(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name} {state}>"

    # How the provider uses it

    def settings(self) -> dict[str, Any]:
        """Keyword arguments of ``eventkit.connect`` that point the provider at this emulator."""
        raise NotImplementedError

    def listen_options(self) -> dict[str, Any]:
        """Keyword arguments of ``kit.listen`` (beyond ``via`` and ``on_ready``)."""
        return {}

    def on_listening(self, address: str) -> None:
        """Called with the listener's address once it is ready (e.g. a webhook URL to register)."""

    def connect(self, **extra: Any) -> eventkit.Client:
        return eventkit.connect(self.provider, **{**self.settings(), **extra})

    def connect_async(self, **extra: Any) -> eventkit.AsyncClient:
        return eventkit.connect_async(self.provider, **{**self.settings(), **extra})

    def expected(self, sent: Event) -> dict[str, Any]:
        """The data a listener sees for ``sent`` under the provider's documented mapping."""
        return dict(sent.data)

    def wire(self, kit: eventkit.AsyncClient | eventkit.Client, event: Event) -> Wire:
        """What ``event`` looks like on the wire: the codec's HTTP request, by default."""
        target = eventkit.parse_target(event.target or self.target)
        request: HttpRequest = kit.codec.encode(event, target)  # type: ignore[attr-defined]
        return _http_wire(request)

    def changes(self, sent: Event, wire: Wire, received: Event) -> list[str]:
        """Where the platform changed the event on its way (the demo's last column)."""
        return _data_changes(sent, received)

    # Conformance-harness duck typing

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        raise NotImplementedError

    def requests_seen(self) -> int:
        raise NotImplementedError


def _http_wire(request: HttpRequest) -> Wire:
    from urllib.parse import urlsplit

    path = urlsplit(request.url).path or "/"
    body = request.content.decode("utf-8", "replace")
    return Wire(f"{request.method} {path}", len(request.content), body)


def _data_changes(sent: Event, received: Event) -> list[str]:
    out = []
    for key in sorted(set(sent.data) | set(received.data)):
        if key not in received.data:
            out.append(f"{key} dropped")
        elif key not in sent.data:
            out.append(f"{key} added")
        elif received.data[key] != sent.data[key]:
            out.append(f"{key}: {sent.data[key]!r} -> {received.data[key]!r}")
    if received.name != sent.name:
        out.append(f"name {sent.name!r} -> {received.name!r}")
    return out


# The four vendors


class StreamSandbox(Sandbox):
    name = "stream"
    provider = "stream"
    label = "Stream (webhook)"
    target = "channel:messaging:general"
    sender = "server-bot"
    listen_via = "webhook"
    requires = ("uvicorn", "websockets")

    def _start(self) -> None:
        from .emulators.stream import StreamEmulator

        self.emulator = StreamEmulator(api_secret=secrets.token_urlsafe(32), health_interval=0.5).start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "api_key": self.emulator.api_key,
            "api_secret": self.emulator.api_secret,
            "base_url": self.emulator.url,
            "environ": {},
            **FAST,
        }

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def changes(self, sent: Event, wire: Wire, received: Event) -> list[str]:
        out = [f"name sent as type {sent.name!r}, custom fields flattened beside it"]
        if received.sender != sent.sender:
            out.append(f"sender {sent.sender!r} -> {received.sender!r}")
        return out + _data_changes(sent, received)

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests


class VonageSandbox(Sandbox):
    name = "vonage"
    provider = "vonage"
    label = "Vonage (webhook)"
    target = f"conversation:{VONAGE_CONVERSATION}"
    sender = VONAGE_MEMBER
    listen_via = "webhook"
    requires = ("uvicorn", "cryptography")

    def _start(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        from .emulators.vonage import VonageEmulator

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.signature_secret = secrets.token_urlsafe(32)
        self.emulator = VonageEmulator(
            public_key=public, application_id=VONAGE_APPLICATION, signature_secret=self.signature_secret
        ).start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "application_id": VONAGE_APPLICATION,
            "private_key": self.private_key,
            "signature_secret": self.signature_secret,
            "base_url": self.emulator.url,
            **FAST,
        }

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def changes(self, sent: Event, wire: Wire, received: Event) -> list[str]:
        return [f"type 'custom:{sent.name}' on the wire, prefix removed on receipt", *_data_changes(sent, received)]

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests


class SignalWireSandbox(Sandbox):
    name = "signalwire"
    provider = "signalwire"
    label = "SignalWire (RELAY)"
    target = f"call:{SIGNALWIRE_CALL}"
    listen_via = "websocket"
    requires = ("uvicorn", "websockets")

    def _start(self) -> None:
        from .emulators.signalwire import SignalWireEmulator

        self.emulator = SignalWireEmulator(api_token=secrets.token_urlsafe(24)).start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "project_id": self.emulator.project_id,
            "api_token": self.emulator.api_token,
            "base_url": self.emulator.url,
            "relay_url": self.emulator.relay_url,
            **FAST,
        }

    def changes(self, sent: Event, wire: Wire, received: Event) -> list[str]:
        return ["name travels inside the event object beside the data", *_data_changes(sent, received)]

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests


class AmiSandbox(Sandbox):
    name = "asterisk-ami"
    provider = "asterisk"
    label = "Asterisk AMI (tcp)"
    target = "ami"
    listen_via = "tcp"
    wire_seen_by_emulator = True
    error_statuses = (400, 403, 503)  # AMI has no status codes: refused (400/403-like) or dropped (503-like)
    supports_retry_after = False

    def _start(self) -> None:
        from .emulators.asterisk import AmiEmulator, AmiUser

        self.secret = secrets.token_urlsafe(16)
        users = {"app": AmiUser(self.secret, read=("user", "system", "call"), write=("user", "system", "call"))}
        self.emulator = AmiEmulator(users, auth_fail_delay=0.01)
        self.emulator.start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "host": self.emulator.host,
            "port": self.emulator.port,
            "username": "app",
            "secret": self.secret,
            **FAST,
        }

    def wire(self, kit: eventkit.AsyncClient | eventkit.Client, event: Event) -> Wire:
        """AMI has no HTTP request: the action as the emulator read it, after the send."""
        for name, lines in reversed(self.emulator.background.run_sync(lambda: list(self.emulator.actions))):
            if name.lower() == "userevent" and f"UserEvent: {event.name}" in lines:
                text = "".join(f"{line}\r\n" for line in lines) + "\r\n"
                return Wire(f"Action: UserEvent ({len(lines)} lines)", len(text.encode()), text)
        return Wire("Action: UserEvent (not seen by the emulator)", 0)

    def changes(self, sent: Event, wire: Wire, received: Event) -> list[str]:
        lines = wire.text.split("\r\n")
        out = []
        for key, value in sent.data.items():
            if not isinstance(value, str):
                line = next((x for x in lines if x.split(":", 1)[0] == key), None)
                if line is not None:
                    out.append(f"{key}: {value!r} sent as the string {line.split(': ', 1)[1]!r}")
        if out:
            out.append("decoded back to JSON by eventkit; other AMI clients see strings")
        return out + _data_changes(sent, received)

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        if status == 503:
            self.emulator.drop_next(delay=retry_after or 0.0)
        else:
            faults = {400: "Too many lines in message or allocation failure", 403: "Permission denied"}
            self.emulator.fail_next(faults[status])

    def requests_seen(self) -> int:
        return self.emulator.user_events_received()


class AriSandbox(Sandbox):
    name = "asterisk-ari"
    provider = "asterisk"
    label = "Asterisk ARI (websocket)"
    target = f"app:{ARI_APP}"
    listen_via = "websocket"
    requires = ("uvicorn", "websockets")
    wire_seen_by_emulator = True

    def _start(self) -> None:
        from .emulators.asterisk import AriEmulator

        self.password = secrets.token_urlsafe(16)
        self.emulator = AriEmulator({"eventkit": self.password}, apps=(ARI_APP,), channels=("chan-1",))
        self.emulator.start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "ari_url": self.emulator.url,
            "ari_username": "eventkit",
            "ari_password": self.password,
            "ari_app": ARI_APP,
            **FAST,
        }

    def wire(self, kit: eventkit.AsyncClient | eventkit.Client, event: Event) -> Wire:
        """The request as the emulator received it (the provider's ARI codec is internal to the plugin)."""
        from urllib.parse import quote

        for request in reversed(self.emulator.requests):
            if request["name"] == event.name:
                body: bytes = request["body"]
                return Wire(f"POST /ari/events/user/{quote(event.name)}", len(body), body.decode("utf-8", "replace"))
        return Wire("POST /ari/events/user/... (not seen by the emulator)", 0)

    def changes(self, sent: Event, wire: Wire, received: Event) -> list[str]:
        return ["data sent as ARI 'variables' (JSON types kept)", *_data_changes(sent, received)]

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.post_count()


SANDBOXES: dict[str, type[Sandbox]] = {
    cls.name: cls for cls in (SignalWireSandbox, AmiSandbox, AriSandbox, StreamSandbox, VonageSandbox)
}
"""Every built-in sandbox by name, in the order the demo shows them."""


def sandbox_class(name: str) -> type[Sandbox]:
    """The sandbox for a sandbox name or a provider name (a provider's first wire)."""
    if name in SANDBOXES:
        return SANDBOXES[name]
    for cls in SANDBOXES.values():
        if cls.provider == name:
            return cls
    known = ", ".join(SANDBOXES)
    raise eventkit.ConfigurationError(f"no sandbox named {name!r}; known: {known}")


def sandboxes_for(provider: str) -> list[type[Sandbox]]:
    return [cls for cls in SANDBOXES.values() if cls.provider == provider]


def missing_requirements(cls: type[Sandbox]) -> list[str]:
    """The modules a sandbox needs that are not installed (so a demo row can say which extra)."""
    return [module for module in cls.requires if importlib_util.find_spec(module) is None]


# One round trip


@attrs.frozen
class RoundTrip:
    """One event sent through a sandbox's provider and received back on its listening path."""

    sandbox: str
    provider: str
    sent: Event
    result: SendResult | None = None
    received: Event | None = None
    wire: Wire | None = None
    seconds: float | None = None
    """From the send call to the event coming out of ``listen`` (the round-trip time)."""
    changes: tuple[str, ...] = ()
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.received is not None


async def round_trip(
    sandbox: Sandbox,
    name: str,
    data: Mapping[str, Any] | None = None,
    *,
    timeout: float = 5.0,
    on_stage: Callable[[str], None] | None = None,
) -> RoundTrip:
    """Send one event through the real provider and wait for it on the listening path.

    Never raises for a provider's failure and never waits longer than
    ``timeout`` in total: the error is in the returned :class:`RoundTrip`.
    """
    sent = Event(name, dict(data or {}), target=sandbox.target, sender=sandbox.sender)
    progress: dict[str, Any] = {"sent": sent}
    try:
        await asyncio.wait_for(_round_trip(sandbox, sent, progress, on_stage), timeout)
    except asyncio.TimeoutError:
        stage = progress.get("stage", "connecting")
        progress["error"] = eventkit.SendTimeoutError(f"no round trip within {timeout:g} s (stuck {stage})")
    except (EventkitError, OSError, ImportError, AssertionError) as exc:
        progress["error"] = exc
    except Exception as exc:  # a demo row must show any provider's failure, not end the demo
        progress["error"] = exc
    return RoundTrip(
        sandbox=sandbox.name,
        provider=sandbox.provider,
        sent=progress["sent"],
        result=progress.get("result"),
        received=progress.get("received"),
        wire=progress.get("wire"),
        seconds=progress.get("seconds"),
        changes=tuple(progress.get("changes", ())),
        error=progress.get("error"),
    )


async def _round_trip(
    sandbox: Sandbox, sent: Event, progress: dict[str, Any], on_stage: Callable[[str], None] | None
) -> None:
    def stage(text: str) -> None:
        progress["stage"] = text
        if on_stage is not None:
            on_stage(text)

    stage("connecting")
    async with sandbox.connect_async() as kit:
        ready = asyncio.Event()

        def on_ready(address: str) -> None:
            sandbox.on_listening(address)
            ready.set()

        stage("starting the listener")
        stream = kit.listen({sent.name}, via=sandbox.listen_via, on_ready=on_ready, **sandbox.listen_options())
        first: asyncio.Future[Event] = asyncio.ensure_future(stream.__anext__())
        try:
            waiter: asyncio.Future[Any] = asyncio.ensure_future(ready.wait())
            pending: list[asyncio.Future[Any]] = [first, waiter]
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not ready.is_set():
                waiter.cancel()
                first.result()  # the listener ended or failed before it was ready: raise its error
                raise eventkit.ProtocolError("the listener stopped before it was ready")
            if not sandbox.wire_seen_by_emulator:
                progress["wire"] = sandbox.wire(kit, sent)
            stage("sending")
            started = time.perf_counter()
            progress["result"] = await kit.send(sent)
            stage("waiting for the event to come back")
            received = await first
            progress["seconds"] = time.perf_counter() - started
            progress["received"] = received
            if "wire" not in progress:
                progress["wire"] = sandbox.wire(kit, sent)
            progress["changes"] = sandbox.changes(sent, progress["wire"], received)
        finally:
            first.cancel()
            try:
                await first
            except (asyncio.CancelledError, StopAsyncIteration, Exception):
                pass
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass


def round_trip_sync(sandbox: Sandbox, name: str, data: Mapping[str, Any] | None = None, **kw: Any) -> RoundTrip:
    """:func:`round_trip` from synchronous code (tests, the demo): its own event loop."""
    return asyncio.run(round_trip(sandbox, name, data, **kw))
