"""The conformance suite: one set of tests every provider plugin must pass.

A plugin author writes a :class:`Harness` (start the emulator, say how to
connect, which target round-trips, how to inject an error) and a test class::

    from eventkit.testing.conformance import ConformanceSuite

    class TestMyProvider(ConformanceSuite):
        harness_class = MyHarness

pytest then runs every check below against the real provider and emulator:
round trip, validation before I/O, error mapping, capability honesty, and, for a
harness that listens via webhooks, the receiving side's guarantees: a forged
call is refused with 401, a replayed one is delivered once, an oversize one is
refused with 413, and every delivery carries a dedupe key.

No check passes vacuously: one that would loop over an empty catalogue (no
invalid events, no payloads, no error statuses) fails and says what the harness
must supply.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

import eventkit
from eventkit import Event, EventkitError, ListenMode, PayloadModel, UnsupportedTargetError, ValidationError
from eventkit.provider import Provider, WebhookDelivery, error_for_status

# Targets of every built-in kind; the suite expects a provider to refuse those it does not declare.
ALL_KIND_SAMPLES = {
    "call": "call:0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10",
    "channel": "channel:messaging:general",
    "user": "user:tommaso",
    "conversation": "conversation:CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b",
    "ami": "ami",
    "app": "app:eventkit",
    "topic": "topic:orders",
}

JSON_PAYLOADS: list[dict[str, Any]] = [
    {},
    {"text": "hi"},
    {"text": "héllo ✓", "n": 3, "pi": 3.25, "ok": True, "none": None},
    {"nested": {"list": [1, "two", {"three": 3}], "empty": {}}},
]
FLAT_PAYLOADS: list[dict[str, Any]] = [
    {},
    {"text": "hi"},
    {"Text": "héllo ✓", "OrderId": "1234", "Spaces": "a b  c"},
]

WEBHOOK_BODY_CAP = 64 * 1024
"""The receiver's ``max_body_bytes`` in the oversize check (its default is 1 MiB; a small cap keeps the check light)."""

WebhookCall = tuple[dict[str, str], bytes]
"""The headers and raw body of one webhook call, as the platform would post it."""


class Harness:
    """What a provider's test suite tells the conformance suite. Override as needed."""

    provider: ClassVar[str]
    target: ClassVar[str]
    """A target that round-trips: sent there, it comes back on the listen path."""
    sender: ClassVar[str | None] = None
    listen_via: ClassVar[str | None] = None
    """Listen mode for the round trip (default: the provider's first declared mode)."""
    error_statuses: ClassVar[tuple[int, ...]] = (400, 401, 403, 404, 429, 503)
    invalid: ClassVar[list[dict[str, Any]]] = []
    """Events (keyword arguments of ``send``: name, data, to, sender) the provider must refuse before I/O."""
    supports_retry_after: ClassVar[bool] = True
    """False for wires with no rate limiting or Retry-After (AMI); the suite then skips that check."""
    multi_invalid: ClassVar[dict[str, Any] | None] = None
    """One event that breaks at least two rules: validation must report all of them."""
    no_dedupe_key: ClassVar[str | None] = None
    """Webhook listeners only. Leave ``None``: each delivery's dedupe key (the platform's id of
    the call, the same across its retries) is then required and replays must be dropped. Set
    it to the reason only when the platform's calls carry no such id; the missing key is then
    accepted, and the replay check is skipped with that reason."""

    def start(self) -> None:
        """Start emulators."""

    def stop(self) -> None:
        """Stop emulators."""

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``connect`` that point the provider at the emulator."""
        return {}

    def listen_options(self) -> dict[str, Any]:
        return {}

    def on_listening(self, address: str) -> None:
        """Called with the listener's address once it is ready (e.g. a webhook URL to register)."""

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        """Make the platform answer the next send with this status, shaped as the vendor does."""
        raise NotImplementedError

    def requests_seen(self) -> int:
        """How many send requests reached the platform (to prove validation sent nothing)."""
        raise NotImplementedError

    def payloads(self, model: PayloadModel) -> list[dict[str, Any]]:
        return JSON_PAYLOADS if model is PayloadModel.JSON else FLAT_PAYLOADS

    def expected(self, sent: Event) -> dict[str, Any]:
        """The data a listener should see for ``sent`` under the provider's documented mapping."""
        return dict(sent.data)

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> WebhookCall:
        """Headers and body of the webhook call the platform would post for ``event``.

        Needed when the harness listens via webhooks (the suite posts these to the
        listener itself). Sign it as the platform does, with the credentials in
        :meth:`settings`; ``delivery_id`` is the platform's id for the call (the one
        it repeats on retries). ``forged=True``: sign with a key the listener does
        not hold (the suite expects a 401 and nothing delivered).
        """
        raise NotImplementedError(
            f"{type(self).__name__} listens via webhooks but does not implement signed_webhook(), "
            "which the suite needs to check forged, replayed and oversize webhooks"
        )

    def sample_targets(self) -> dict[str, str]:
        """A valid target for each declared kind (defaults to ``target`` for its own kind)."""
        samples = dict(ALL_KIND_SAMPLES)
        samples[eventkit.parse_target(self.target).kind] = self.target
        return samples


def _send_kwargs(harness: Harness, case: dict[str, Any]) -> dict[str, Any]:
    kwargs = {"to": harness.target, "sender": harness.sender, "data": {}, **case}
    kwargs["event"] = kwargs.pop("name")
    return kwargs


def _run_listener(
    kit: eventkit.AsyncClient, harness: Harness, count: int, ready: threading.Event, out: list[Event]
) -> Any:
    def on_ready(address: str) -> None:
        harness.on_listening(address)
        ready.set()

    async def consume() -> None:
        options = {**harness.listen_options(), "on_ready": on_ready}
        async for event in kit.listen(via=harness.listen_via, **options):
            out.append(event)
            if len(out) >= count:
                return

    return consume()


def _require(items: Any, what: str) -> None:
    """Fail (never pass vacuously) when a check would loop over nothing."""
    if not items:
        pytest.fail(f"nothing to check: {what}", pytrace=False)


def _listen_mode(harness: Harness, provider_class: type[Provider]) -> str | None:
    if harness.listen_via is not None:
        return str(ListenMode(harness.listen_via).value)
    modes = provider_class.capabilities.listen
    return modes[0].value if modes else None


class ConformanceSuite:
    """Subclass with ``harness_class`` set; every ``test_`` below then runs for that provider."""

    harness_class: ClassVar[type[Harness]]
    timeout: ClassVar[float] = 15.0

    @pytest.fixture(scope="class")
    @classmethod
    def harness(cls) -> Iterator[Harness]:
        harness = cls.harness_class()
        harness.start()
        try:
            yield harness
        finally:
            harness.stop()

    @pytest.fixture
    def provider_class(self, harness: Harness) -> type[Provider]:
        from eventkit import _registry

        cls: type[Provider] = _registry.load(harness.provider)
        return cls

    # Registration and declarations

    def test_registered_under_its_name(self, harness: Harness, provider_class: type[Provider]) -> None:
        assert provider_class.name == harness.provider

    def test_capabilities_are_declared(self, provider_class: type[Provider]) -> None:
        caps = provider_class.capabilities
        assert caps.targets, "a provider declares at least one target form"
        for form in caps.targets:
            assert form.form.split(":")[0] == form.kind, f"{form.form} does not start with its kind {form.kind}"
        assert isinstance(caps.payload, PayloadModel)

    def test_settings_reprs_hide_secrets(self, harness: Harness) -> None:
        with eventkit.connect(harness.provider, **harness.settings()) as kit:
            shown = repr(kit.provider) + repr(kit) + repr(kit.provider.settings)
            secrets = kit.provider.secrets()
            if not secrets:
                pytest.skip(f"{harness.provider} is connected with no secret setting: no secret to hide")
            for secret in secrets:
                assert secret.reveal() not in shown

    # Capability honesty

    def test_declared_targets_validate(self, harness: Harness, provider_class: type[Provider]) -> None:
        samples = harness.sample_targets()
        _require(provider_class.capabilities.targets, f"{harness.provider} declares no target form")
        with eventkit.connect(harness.provider, **harness.settings()) as kit:
            for form in provider_class.capabilities.targets:
                target = samples.get(form.kind)
                assert target is not None, f"harness has no sample target for {form.kind}"
                violations = kit.validate(
                    "conformance_event", {"text": "hi"}, to=target, sender=harness.sender or "eventkit"
                )
                assert violations == [], f"{target}: {violations}"

    def test_undeclared_targets_are_refused_naming_the_declared(
        self, harness: Harness, provider_class: type[Provider]
    ) -> None:
        declared = set(provider_class.capabilities.target_kinds)
        undeclared = {kind: target for kind, target in ALL_KIND_SAMPLES.items() if kind not in declared}
        if not undeclared:
            pytest.skip(f"{harness.provider} declares every built-in target kind: none to refuse")
        with eventkit.connect(harness.provider, **harness.settings()) as kit:
            for target in undeclared.values():
                before = harness.requests_seen()
                with pytest.raises(UnsupportedTargetError) as caught:
                    kit.send("conformance_event", {}, to=target, sender=harness.sender)
                assert provider_class.capabilities.targets[0].form in str(caught.value)
                assert harness.requests_seen() == before

    def test_declared_listen_modes_exist(self, provider_class: type[Provider]) -> None:
        _require(provider_class.capabilities.listen, "the provider declares no listen mode (the round trip needs one)")
        for mode in provider_class.capabilities.listen:
            assert isinstance(mode, ListenMode)

    # Validation before I/O

    def test_invalid_events_are_refused_before_io(self, harness: Harness) -> None:
        _require(harness.invalid, f"{type(harness).__name__}.invalid lists no event the provider must refuse")
        with eventkit.connect(harness.provider, **harness.settings()) as kit:
            for case in harness.invalid:
                kwargs = _send_kwargs(harness, case)
                before = harness.requests_seen()
                with pytest.raises(ValidationError) as caught:
                    kit.send(**kwargs)
                assert caught.value.violations, f"{case}: a validation error lists its violations"
                assert harness.requests_seen() == before, f"{case} reached the platform"

    def test_every_violation_is_reported(self, harness: Harness) -> None:
        if harness.multi_invalid is None:
            pytest.skip("the harness declares no event that breaks several rules at once")
        with eventkit.connect(harness.provider, **harness.settings()) as kit:
            violations = kit.validate(**_send_kwargs(harness, harness.multi_invalid))
        assert len(violations) >= 2, f"expected every violation, got {violations}"

    def test_non_json_data_is_refused(self, harness: Harness) -> None:
        with eventkit.connect(harness.provider, **harness.settings()) as kit, pytest.raises(ValidationError):
            kit.send("conformance_event", {"when": object()}, to=harness.target, sender=harness.sender)

    # Round trip

    def test_round_trip(self, harness: Harness, provider_class: type[Provider]) -> None:
        payloads = harness.payloads(provider_class.capabilities.payload)
        _require(payloads, f"{type(harness).__name__}.payloads() returned no payload to round-trip")
        sent = [
            Event(f"conformance_rt_{i}", data, target=harness.target, sender=harness.sender)
            for i, data in enumerate(payloads)
        ]
        received = self._send_and_receive(harness, sent)
        by_name = {e.name: e for e in received}
        for event in sent:
            got = by_name.get(event.name)
            assert got is not None, f"{event.name} was not received (got {sorted(by_name)})"
            assert got.data == harness.expected(event), f"{event.name}: sent {event.data}, got {got.data}"
            assert got.provider == harness.provider

    def _send_and_receive(self, harness: Harness, sent: list[Event]) -> list[Event]:
        out: list[Event] = []
        ready = threading.Event()

        async def main() -> None:
            async with eventkit.connect_async(harness.provider, **harness.settings()) as kit:
                listener = asyncio.ensure_future(_run_listener(kit, harness, len(sent), ready, out))
                for _ in range(int(self.timeout * 100)):
                    if ready.is_set() or listener.done():
                        break
                    await asyncio.sleep(0.01)
                if listener.done():
                    listener.result()
                assert ready.is_set(), "the listener never said it was ready (on_ready)"
                results = await kit.send_many(sent)
                assert all(r.ok for r in results), [r.error for r in results if not r.ok]
                try:
                    await asyncio.wait_for(listener, self.timeout)
                except asyncio.TimeoutError:
                    pass

        asyncio.run(main())
        return out

    # Error mapping

    def test_error_mapping(self, harness: Harness) -> None:
        _require(harness.error_statuses, f"{type(harness).__name__}.error_statuses is empty")
        with eventkit.connect(harness.provider, **{**harness.settings(), "max_attempts": 1}) as kit:
            for status in harness.error_statuses:
                harness.inject_error(status)
                (result,) = kit.send_many(
                    [Event("conformance_err", {"text": "x"}, target=harness.target, sender=harness.sender)]
                )
                assert not result.ok, f"injected {status} but the send succeeded"
                assert isinstance(result.error, error_for_status(status)), f"{status} -> {result.error!r}"
                assert result.error.provider == harness.provider
                assert isinstance(result.error, EventkitError)
                expected_retryable = status == 429 or status >= 500
                assert result.error.retryable == expected_retryable, f"{status}: retryable={result.error.retryable}"

    def test_retry_after_is_honoured(self, harness: Harness) -> None:
        if not harness.supports_retry_after:
            pytest.skip(f"{harness.provider} declares no Retry-After on this wire")
        with eventkit.connect(
            harness.provider, **{**harness.settings(), "max_attempts": 2, "backoff_initial": 0}
        ) as kit:
            harness.inject_error(429, retry_after=0.2)
            result = kit.send("conformance_retry", {"text": "x"}, to=harness.target, sender=harness.sender)
            assert result.ok and result.attempts == 2
            assert result.elapsed >= 0.15

    # Receiving webhooks: run only when the harness listens via webhooks.

    def _webhook_harness(self, harness: Harness, provider_class: type[Provider]) -> None:
        mode = _listen_mode(harness, provider_class)
        if mode != ListenMode.WEBHOOK.value:
            pytest.skip(f"{type(harness).__name__} listens via {mode}, not webhooks")

    def _event(self, harness: Harness, name: str, data: dict[str, Any] | None = None) -> Event:
        suffix = uuid.uuid4().hex[:10]
        return Event(f"{name}_{suffix}", data or {"n": 1}, target=harness.target, sender=harness.sender)

    def test_webhook_deliveries_have_a_dedupe_key(self, harness: Harness, provider_class: type[Provider]) -> None:
        """The receiver drops a platform's retries by the dedupe key; without one each retry is delivered again."""
        self._webhook_harness(harness, provider_class)
        event = self._event(harness, "conformance_dedupe")
        headers, body = harness.signed_webhook(event, delivery_id=f"dedupe-{uuid.uuid4()}")
        with eventkit.connect(harness.provider, **harness.settings()) as kit:
            codec = kit.provider.webhook_codec()
            assert codec is not None, f"{harness.provider} listens via webhooks but has no webhook_codec()"
            delivery: WebhookDelivery = codec.parse_webhook({k.lower(): v for k, v in headers.items()}, body)
        assert [e.name for e in delivery.events] == [event.name], "the harness's signed webhook did not decode"
        if harness.no_dedupe_key is not None:
            assert delivery.dedupe_key is None, (
                f"{type(harness).__name__}.no_dedupe_key says there is none, yet the codec returned one"
            )
            return
        assert delivery.dedupe_key, (
            f"{harness.provider}'s webhook codec returned no dedupe key, so the receiver cannot drop the "
            f"platform's retries; return the platform's delivery id as WebhookDelivery.dedupe_key, or set "
            f"{type(harness).__name__}.no_dedupe_key to the reason the platform gives none"
        )

    def test_forged_webhooks_are_refused(self, harness: Harness, provider_class: type[Provider]) -> None:
        """A call signed with another key, or whose body was swapped after signing, is answered 401 and delivers nothing."""
        self._webhook_harness(harness, provider_class)
        wrong_key = self._event(harness, "conformance_forged")
        signed = self._event(harness, "conformance_signed")
        swapped = self._event(harness, "conformance_swapped", {"n": 2})
        headers, _ = harness.signed_webhook(signed, delivery_id=f"signed-{uuid.uuid4()}")
        _, other_body = harness.signed_webhook(swapped, delivery_id=f"swapped-{uuid.uuid4()}")
        calls = [
            harness.signed_webhook(wrong_key, delivery_id=f"forged-{uuid.uuid4()}", forged=True),
            (headers, other_body),  # a genuine signature over another body
        ]
        statuses, received = self._webhook_exchange(harness, calls)
        assert statuses == [401, 401], f"forged webhooks were answered {statuses}, not [401, 401]"
        leaked = [e.name for e in received if e.name in (wrong_key.name, signed.name, swapped.name)]
        assert not leaked, f"forged webhooks were delivered: {leaked}"

    def test_replayed_webhooks_are_delivered_once(self, harness: Harness, provider_class: type[Provider]) -> None:
        """The same call posted twice (a platform retry, or a replay) reaches the application once."""
        self._webhook_harness(harness, provider_class)
        if harness.no_dedupe_key is not None:
            pytest.skip(f"{harness.provider}'s webhooks carry no delivery id: {harness.no_dedupe_key}")
        event = self._event(harness, "conformance_replayed")
        call = harness.signed_webhook(event, delivery_id=f"replayed-{uuid.uuid4()}")
        statuses, received = self._webhook_exchange(harness, [call, call])
        assert all(200 <= s < 300 for s in statuses), f"a genuine webhook and its replay were answered {statuses}"
        count = sum(1 for e in received if e.name == event.name)
        assert count == 1, f"a webhook posted twice was delivered {count} times"

    def test_oversize_webhooks_are_refused(self, harness: Harness, provider_class: type[Provider]) -> None:
        """A call over the receiver's body cap is answered 413 and delivers nothing."""
        self._webhook_harness(harness, provider_class)
        event = self._event(harness, "conformance_oversize", {"blob": "x" * (WEBHOOK_BODY_CAP + 1024)})
        call = harness.signed_webhook(event, delivery_id=f"oversize-{uuid.uuid4()}")
        assert len(call[1]) > WEBHOOK_BODY_CAP, "the harness built an oversize event into a small body"
        statuses, received = self._webhook_exchange(harness, [call], max_body_bytes=WEBHOOK_BODY_CAP)
        assert statuses == [413], f"a {len(call[1])}-byte webhook over a {WEBHOOK_BODY_CAP}-byte cap got {statuses}"
        assert all(e.name != event.name for e in received), "an oversize webhook was delivered"

    def _webhook_exchange(
        self, harness: Harness, calls: list[WebhookCall], **listen: Any
    ) -> tuple[list[int], list[Event]]:
        """Post ``calls`` to a live listener, then a genuine sentinel call; the statuses and what was delivered.

        The receiver answers each call once it is handled, so everything the
        calls delivered is in the listener's stream before the sentinel: no wait,
        no timing guess.
        """
        import httpx

        sentinel = self._event(harness, "conformance_sentinel")
        sentinel_call = harness.signed_webhook(sentinel, delivery_id=f"sentinel-{uuid.uuid4()}")
        statuses: list[int] = []
        received: list[Event] = []

        async def main() -> None:
            address: list[str] = []
            ready = asyncio.Event()

            def on_ready(url: str) -> None:
                address.append(url)
                ready.set()

            async with eventkit.connect_async(harness.provider, **harness.settings()) as kit:
                options = {**harness.listen_options(), **listen, "on_ready": on_ready}
                stream = kit.listen(via=ListenMode.WEBHOOK, **options)

                async def consume() -> None:
                    async for event in stream:
                        received.append(event)
                        if event.name == sentinel.name:
                            return

                listener = asyncio.ensure_future(consume())
                try:
                    waiter = asyncio.ensure_future(ready.wait())
                    await asyncio.wait([listener, waiter], timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if listener.done():
                        listener.result()
                    assert address, "the webhook listener never said it was ready (on_ready)"
                    async with httpx.AsyncClient(timeout=self.timeout) as http:
                        for headers, body in [*calls, sentinel_call]:
                            answer = await http.post(address[0], content=body, headers=headers)
                            statuses.append(answer.status_code)
                    sentinel_status = statuses.pop()
                    assert sentinel_status == 200, (
                        f"the harness's genuine signed webhook was answered {sentinel_status}, not 200"
                    )
                    try:
                        await asyncio.wait_for(listener, self.timeout)
                    except asyncio.TimeoutError:
                        pytest.fail("the genuine sentinel webhook was acknowledged but never delivered", pytrace=False)
                finally:
                    listener.cancel()
                    try:
                        await listener
                    except (asyncio.CancelledError, Exception):
                        pass
                    aclose = getattr(stream, "aclose", None)
                    if aclose is not None:
                        await aclose()

        asyncio.run(main())
        return statuses, received
