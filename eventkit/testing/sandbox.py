"""Sandboxes: one vendor emulator plus everything a real provider needs to use it.

This module holds the vendor-neutral part: the :class:`Sandbox` base, the
round-trip driver (:func:`round_trip`) and the registry of built-in sandboxes
(:data:`SANDBOXES`); each vendor's sandbox is ``eventkit_<vendor>.testing.sandbox``.

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
import importlib
import importlib.util as importlib_util
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import attrs

import eventkit
from eventkit import Event, EventkitError, SendResult
from eventkit.provider import HttpRequest

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5.0}
"""Transport settings for loopback: a failure shows in milliseconds, not after real backoff."""


@attrs.frozen
class Summary:
    """What one send put on the wire, summed up as the demo prints it."""

    line: str
    """An HTTP request line (path only: no host, no query, so no credential) or an AMI action."""
    size: int
    """Bytes of the request body or of the whole AMI action."""
    text: str = ""
    """The body or action itself (may be long; the demo shows ``line`` and ``size``)."""


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
    no_dedupe_key: ClassVar[str | None] = None
    """Why the platform's webhook calls carry no delivery id, if they carry none (see the conformance Harness)."""
    summary_after_send: ClassVar[bool] = False
    """True when :meth:`summarize` reads what the emulator received (so it is asked after the send)."""

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

    def summarize(self, kit: eventkit.AsyncClient | eventkit.Client, event: Event) -> Summary:
        """What ``event`` looks like on the wire: the codec's HTTP request, by default."""
        target = eventkit.parse_target(event.target or self.target)
        request: HttpRequest = kit.codec.encode(event, target)  # type: ignore[attr-defined]
        return http_summary(request)

    def changes(self, sent: Event, summary: Summary, received: Event) -> list[str]:
        """Where the platform changed the event on its way (the demo's last column)."""
        return data_changes(sent, received)

    # Conformance-harness duck typing

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        raise NotImplementedError

    def requests_seen(self) -> int:
        raise NotImplementedError

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> tuple[dict[str, str], bytes]:
        """Webhook sandboxes: the call the platform would post for ``event`` (see the conformance Harness)."""
        raise NotImplementedError(f"{type(self).__name__} builds no webhook calls")


def http_summary(request: HttpRequest) -> Summary:
    """An HTTP request as the demo shows it: method and path (never host or query), body."""
    from urllib.parse import urlsplit

    path = urlsplit(request.url).path or "/"
    body = request.content.decode("utf-8", "replace")
    return Summary(f"{request.method} {path}", len(request.content), body)


def data_changes(sent: Event, received: Event) -> list[str]:
    """Keys dropped, added or changed between the sent and the received event (and a renamed name)."""
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


# The built-in vendors' sandboxes live beside their plugins (eventkit_<vendor>.testing.sandbox).
# They are named here as import strings, in the order the demo shows them, and imported on
# first use: the core never imports a plugin module by name, and a session that uses no
# sandbox loads none.

BUILTIN_SANDBOXES = (
    "eventkit_signalwire.testing.sandbox:SignalWireSandbox",
    "eventkit_asterisk.testing.sandbox:AmiSandbox",
    "eventkit_asterisk.testing.sandbox:AriSandbox",
    "eventkit_stream.testing.sandbox:StreamSandbox",
    "eventkit_vonage.testing.sandbox:VonageSandbox",
)


class _Sandboxes(MutableMapping[str, "type[Sandbox]"]):
    """``name -> sandbox class``, loaded from :data:`BUILTIN_SANDBOXES` on first access."""

    def __init__(self, specs: tuple[str, ...]) -> None:
        self._specs = specs
        self._loaded: dict[str, type[Sandbox]] | None = None

    def _classes(self) -> dict[str, type[Sandbox]]:
        if self._loaded is None:
            loaded: dict[str, type[Sandbox]] = {}
            for spec in self._specs:
                module, _, name = spec.partition(":")
                cls: type[Sandbox] = getattr(importlib.import_module(module), name)
                loaded[cls.name] = cls
            self._loaded = loaded
        return self._loaded

    def __getitem__(self, name: str) -> type[Sandbox]:
        return self._classes()[name]

    def __setitem__(self, name: str, cls: type[Sandbox]) -> None:
        self._classes()[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._classes()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes())

    def __len__(self) -> int:
        return len(self._classes())


SANDBOXES: MutableMapping[str, type[Sandbox]] = _Sandboxes(BUILTIN_SANDBOXES)
"""Every built-in sandbox by name, in the order the demo shows them."""


def sandbox_class(name: str) -> type[Sandbox]:
    """The sandbox for a sandbox name or a provider name (a provider's first wire)."""
    if name in SANDBOXES:
        return SANDBOXES[name]
    for cls in SANDBOXES.values():
        if cls.provider == name:
            return cls
    known = ", ".join(dict.fromkeys([*(cls.provider for cls in SANDBOXES.values()), *SANDBOXES]))
    raise eventkit.ConfigurationError(f"no eventkit sandbox or provider named {name!r}; known: {known}")


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
    summary: Summary | None = None
    """What the send put on the wire."""
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
        summary=progress.get("summary"),
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
            if not sandbox.summary_after_send:
                progress["summary"] = sandbox.summarize(kit, sent)
            stage("sending")
            started = time.perf_counter()
            progress["result"] = await kit.send(sent)
            stage("waiting for the event to come back")
            received = await first
            progress["seconds"] = time.perf_counter() - started
            progress["received"] = received
            if "summary" not in progress:
                progress["summary"] = sandbox.summarize(kit, sent)
            progress["changes"] = sandbox.changes(sent, progress["summary"], received)
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


Wire = Summary
"""The old name of :class:`Summary` (deprecated: "wire" now means only vendor wire facts)."""
