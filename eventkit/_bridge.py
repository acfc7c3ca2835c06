"""The bridge: listen on one provider, forward every event to others, through the store and outbox.

Why it is built this way:

* **Acknowledged only once queued everywhere.** The source is read through
  ``listen(group="bridge:<id>")``: the listener stores each event before the
  platform's ACK, and the bridge acknowledges the store entry only after one
  outbox item per destination is durably queued (one ``enqueue`` call for all
  destinations). A crash before that acknowledgement hands the event out again.
* **Deduplicated by the source event's id.** Every forwarded copy keeps the source
  event's id. When an event comes again (``delivery.redelivered``) the bridge looks
  for a copy with that id already in each destination's outbox and does not queue
  it twice. What a crash can still duplicate: a copy that was queued *and already
  delivered* before the crash, whose source entry was not yet acknowledged. That
  copy is queued again and flagged ``possible_duplicate`` in the record and the
  counters (never silently).
* **Loop guard on the wire.** Each forwarded event carries a data key (default
  ``eventkit_bridge``) holding the bridge's id, so the platform itself carries the
  marker; an event received with that key is never forwarded. Events whose sender
  is one the bridge writes as are skipped too.
* **Conversions are explicit.** Per destination: a name mapping, and for a
  flat-string platform (AMI) either plain strings (``payload="strings"``, the
  default there: numbers and booleans become their text, ``null`` becomes ``""``,
  lists and objects travel as ``ekjson:`` text) or the provider's reversible form
  (``payload="keep"``). Every change is listed on the record and counted.
* **Refusals are dead letters.** An event a destination refuses (its rules, after
  mapping and conversion) is stored as a dead outbox item under the key
  ``bridge:<id>`` with the violations as its error, counted, and listed by
  :meth:`Bridge.dead_letters`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Any

import attrs

from ._capabilities import ListenMode, PayloadModel
from ._client import AsyncClient
from ._errors import EventkitError, SettingsError, TargetError, Violation
from ._event import Event
from ._json import JSON, JSONObject
from ._outbox import Outbox
from ._stats import Counters
from ._store import OutboxItem, Outgoing, Store, StoreError, open_store
from ._store.codec import decode_event, encode_event
from ._targets import parse_target

log = logging.getLogger("eventkit.bridge")

BRIDGE_KEY = "eventkit_bridge"
"""The data key a forwarded event carries (the loop guard); its value is the bridge's id."""

PAYLOAD_MODES = ("auto", "strings", "keep")
EKJSON = "ekjson:"
"""The prefix flat-string providers put before a non-string value's JSON text (their reversible form)."""

_SCAN_LIMIT = 1_000_000


def _names(mapping: Mapping[str, str]) -> dict[str, str]:
    out = dict(mapping)
    for key, value in out.items():
        if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
            raise SettingsError(f"a name mapping maps non-empty names to non-empty names, not {key!r} -> {value!r}")
    return out


@attrs.frozen
class BridgeRoute:
    """One destination of a bridge: a client, where to send, and how to change events for it."""

    client: AsyncClient
    to: str
    """A target string (``conversation:CON-...``) or a route ``@name`` where the client resolves routes."""
    names: Mapping[str, str] = attrs.field(factory=dict, converter=_names)
    """Source name -> name on this destination; names not listed pass unchanged."""
    sender: str | None = None
    """The sender the bridge writes as on this destination (some targets need one)."""
    payload: str = "auto"
    """``auto`` (plain strings on a flat-string platform, unchanged elsewhere), ``strings`` or ``keep``."""


@attrs.frozen
class BridgeRecord:
    """What the bridge did with one source event for one destination (or why it skipped the event)."""

    status: str
    """``queued``, ``duplicate`` (already queued before a restart), ``refused`` (dead-lettered) or ``skipped``."""
    source_id: str
    name: str
    destination: str | None = None
    provider: str | None = None
    target: str | None = None
    forwarded_as: str | None = None
    changes: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()
    reason: str | None = None
    """Why a source event was skipped (``loop`` or ``sender``)."""
    possible_duplicate: bool = False
    """Queued again after a restart: an earlier copy may have reached the destination."""
    outbox_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "source_id": self.source_id, "name": self.name}
        for key in ("destination", "provider", "target", "forwarded_as", "reason", "outbox_id"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.changes:
            out["changes"] = list(self.changes)
        if self.violations:
            out["violations"] = list(self.violations)
        if self.possible_duplicate:
            out["possible_duplicate"] = True
        return out


def _text(value: JSON) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, allow_nan=False)


def convert_payload(data: JSONObject, mode: str, flat: bool) -> tuple[JSONObject, list[str]]:
    """The data a destination gets, and every change made to it (or that its platform will make).

    ``strings`` (``auto`` on a flat-string platform) turns numbers, booleans and
    ``null`` into their text; on a JSON platform it also turns lists and objects
    into ``ekjson:`` text. ``keep`` leaves values to the provider, whose reversible
    form sends every non-string as ``ekjson:`` + JSON on a flat-string platform.
    """
    stringify = mode == "strings" or (mode == "auto" and flat)
    if not flat and not stringify:
        return dict(data), []
    out: JSONObject = {}
    changes: list[str] = []
    for key, value in data.items():
        kind = type(value).__name__ if value is not None else "null"
        if isinstance(value, str):
            out[key] = value
            if value.startswith(EKJSON) and flat:
                changes.append(f"{key}: a string starting with {EKJSON!r} travels escaped as {EKJSON} text")
        elif isinstance(value, (dict, list)):
            if flat:
                out[key] = value
            else:
                out[key] = EKJSON + json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            changes.append(f"{key}: a {kind} travels as {EKJSON} text")
        else:
            shown = "null" if value is None else f"{kind} {json.dumps(value)}"
            if stringify:
                out[key] = _text(value)
                changes.append(f"{key}: {shown} -> {_text(value)!r}")
            else:
                out[key] = value
                changes.append(f"{key}: {shown} travels as {EKJSON + json.dumps(value)!r}")
    return out, changes


class _Destination:
    def __init__(self, name: str, route: BridgeRoute) -> None:
        self.name = name
        self.route = route
        self.client = route.client
        self.provider = route.client.name
        self.flat = route.client.provider.capabilities.payload is PayloadModel.FLAT_STRINGS
        self.target = route.to
        self.stats = Counters()
        self.outbox: Outbox | None = None

    def forward(self, event: Event, marker: str, bridge_id: str) -> tuple[Event, list[str]]:
        data, changes = convert_payload(event.data, self.route.payload, self.flat)
        data[marker] = bridge_id
        name = self.route.names.get(event.name, event.name)
        if name != event.name:
            changes.insert(0, f"name {event.name!r} -> {name!r}")
        out = Event(name, data, id=event.id, time=event.time, target=self.target, sender=self.route.sender)
        return out, changes


def _resolve(client: AsyncClient, to: str) -> str:
    if not isinstance(to, str) or not to:
        raise SettingsError(f"a bridge destination on {client.name} needs a target", provider=client.name)
    if to.startswith("@"):
        try:
            return client.resolve_target(to)
        except TargetError as exc:  # an unknown route: the bridge's settings are wrong
            raise SettingsError(exc.message, provider=client.name) from None
    parse_target(to)
    return to


class Bridge:
    """Forward every event one provider receives to one or more others, durably.

    ``async with Bridge(source, {"vonage": BridgeRoute(kit, "conversation:CON-...")},
    store="sqlite:///bridge.db") as bridge: await bridge.run()``. The clients stay
    the caller's: close them after the bridge.
    """

    def __init__(
        self,
        source: AsyncClient,
        destinations: Mapping[str, BridgeRoute],
        *,
        store: str,
        id: str | None = None,
        marker: str = BRIDGE_KEY,
        skip_senders: Iterable[str] = (),
        names: Iterable[str] | None = None,
        via: str | ListenMode | None = None,
        consumer: str | None = None,
        claim_idle: float = 30.0,
        max_attempts: int = 5,
        listen_options: Mapping[str, Any] | None = None,
        deliver: bool = True,
        grace: float = 1.0,
    ) -> None:
        if not isinstance(source, AsyncClient):
            raise SettingsError("a bridge's source must be an AsyncClient (eventkit.connect_async(...))")
        if not destinations:
            raise SettingsError("a bridge needs at least one destination")
        if not isinstance(marker, str) or not marker:
            raise SettingsError("the loop-guard marker must be a non-empty data key")
        probe = open_store(store) if isinstance(store, str) and store else None
        if probe is None or not probe.durable:
            raise SettingsError(
                "a bridge needs a durable store (sqlite:///path or redis://...): it acknowledges the source "
                "only once every destination's copy is held"
            )
        if source.store_url not in ("memory://", store):
            raise SettingsError(
                f"the source client listens through {source.store_url!r}; the bridge's store is {probe.url!r}",
                provider=source.name,
            )
        self.source = source
        self.store_url = store
        self.marker = marker
        self.id = id or f"{source.name}>{'+'.join(sorted(destinations))}"
        if "\r" in self.id or "\n" in self.id or not self.id.strip():
            raise SettingsError("a bridge id must be one line of text")
        self.group = f"bridge:{self.id}"
        self.dead_key = f"bridge:{self.id}"
        """The outbox provider key of this bridge's dead letters (no drainer leases it)."""
        self.names = None if names is None else frozenset(names)
        self.via = via
        self.consumer = consumer
        self.claim_idle = claim_idle
        self.max_attempts = max_attempts
        self.listen_options = dict(listen_options or {})
        self.deliver = deliver
        """False: only queue; ``eventkit outbox drain`` (or any client with ``outbox=True``) delivers."""
        self.grace = grace
        """Seconds the drainers wait at start unless the first event is handled sooner (see :meth:`start`)."""
        self._grace_timer: asyncio.TimerHandle | None = None
        self.stats = Counters()
        self.destinations: dict[str, _Destination] = {}
        seen: dict[str, str] = {}
        for name, route in destinations.items():
            if not isinstance(name, str) or not name:
                raise SettingsError("destination names must be non-empty strings")
            if not isinstance(route, BridgeRoute) or not isinstance(route.client, AsyncClient):
                raise SettingsError(f"destination {name!r} must be a BridgeRoute with an AsyncClient")
            if route.payload not in PAYLOAD_MODES:
                raise SettingsError(f"destination {name!r}: payload must be one of {', '.join(PAYLOAD_MODES)}")
            provider = route.client.name
            if provider in seen:
                raise SettingsError(
                    f"destinations {seen[provider]!r} and {name!r} are both {provider}: they would share one "
                    "outbox; run a second bridge on another store",
                    provider=provider,
                )
            seen[provider] = name
            target = _resolve(route.client, route.to)
            dest = _Destination(name, attrs.evolve(route, to=target))
            self._check_destination(dest)
            self.destinations[name] = dest
        self.skip_senders = frozenset(skip_senders) | {
            d.route.sender for d in self.destinations.values() if d.route.sender is not None
        }
        self._store: Store | None = None
        self._held: Event | None = None

    def __repr__(self) -> str:
        return f"<Bridge {self.id!r} {self.source.url} -> {', '.join(self.destinations)}>"

    def _check_destination(self, dest: _Destination) -> None:
        """The target, sender, marker key and mapped names, checked against the destination before any I/O."""
        problems: list[str] = []
        names = sorted(set(dest.route.names.values())) or ["eventkit_bridge_probe"]
        for name in names:
            try:
                probe = Event(name, {self.marker: self.id}, target=dest.target, sender=dest.route.sender)
            except EventkitError as exc:
                problems.append(str(exc))
                continue
            problems.extend(str(v) for v in dest.client.validate(probe))
        if problems:
            raise SettingsError(
                f"destination {dest.name!r} ({dest.provider} {dest.target}) refuses what the bridge would send: "
                + "; ".join(dict.fromkeys(problems)),
                provider=dest.provider,
            )

    # Lifecycle

    async def start(self) -> None:
        """Open the store (the source client's) and make each destination's outbox drainer.

        The drainers start once the first source event is handled, or after
        ``grace`` seconds: a restarted bridge first gets back the event it held at
        the crash, and finds its copy still in the outbox before a drainer could
        deliver it (which would make the copy invisible, and the event a flagged
        duplicate).
        """
        if self._store is not None:
            return
        self.source.store_url = self.store_url
        store = await self.source._shared_store()
        for dest in self.destinations.values():
            dest.outbox = Outbox(
                store,
                dest.provider,
                dest.client._get_sender(),
                dest.client.transport,
                dest.client.stats,
                lease=dest.client.outbox_lease,
            )
        self._store = store
        if self.deliver:
            self._grace_timer = asyncio.get_running_loop().call_later(self.grace, self._start_drainers)

    def _start_drainers(self) -> None:
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        if not self.deliver:
            return
        for dest in self.destinations.values():
            if dest.outbox is not None:
                dest.outbox.start()

    async def aclose(self) -> None:
        """Stop the drainers (what they leased and did not send comes back to the next bridge)."""
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        for dest in self.destinations.values():
            outbox, dest.outbox = dest.outbox, None
            if outbox is not None:
                await outbox.stop()
        self._store = None

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # Forwarding

    async def forward(self) -> AsyncGenerator[BridgeRecord, None]:
        """Records of what was done, source event by source event, until the caller stops.

        A source event is acknowledged when the caller asks for the record after
        its last one (or calls :meth:`commit`); left unacknowledged, it comes again
        after a restart and is deduplicated against the outbox.
        """
        batches = self.batches()
        try:
            async for records in batches:
                for record in records:
                    yield record
        finally:
            await batches.aclose()

    async def batches(self) -> AsyncGenerator[list[BridgeRecord], None]:
        """One list of records per source event; the event is acknowledged when the next list is asked for."""
        await self.start()
        options: dict[str, Any] = {
            "group": self.group,
            "claim_idle": self.claim_idle,
            "max_attempts": self.max_attempts,
            **self.listen_options,
        }
        if self.consumer is not None:
            options["consumer"] = self.consumer
        listener = self.source.listen(self.names, via=self.via, **options)
        try:
            async for event in listener:
                await self.commit()
                records = await self._handle(event)
                self._start_drainers()
                self._held = event
                yield records
                await self.commit()
        finally:
            aclose = getattr(listener, "aclose", None)
            if aclose is not None:
                await aclose()

    async def commit(self) -> None:
        """Acknowledge the source event whose records were handed out last."""
        held, self._held = self._held, None
        if held is not None and held.delivery is not None:
            await held.delivery.ack()

    async def run(
        self, count: int | None = None, on_record: Callable[[BridgeRecord], None] | None = None
    ) -> dict[str, Any]:
        """Forward until cancelled, or until ``count`` source events are handled; the summary."""
        if count is not None and (isinstance(count, bool) or count < 1):
            raise SettingsError("count must be at least 1")
        handled = 0
        batches = self.batches()
        try:
            async for records in batches:
                if on_record is not None:
                    for record in records:
                        on_record(record)
                handled += 1
                if count is not None and handled >= count:
                    await self.commit()
                    break
        finally:
            await batches.aclose()
        return self.summary()

    async def _handle(self, event: Event) -> list[BridgeRecord]:
        self.stats.incr("received")
        try:
            if self.marker in event.data:
                self.stats.incr("skipped_loop")
                return [BridgeRecord("skipped", event.id, event.name, reason="loop")]
            if event.sender is not None and event.sender in self.skip_senders:
                self.stats.incr("skipped_sender")
                return [BridgeRecord("skipped", event.id, event.name, reason="sender")]
            return await self._queue(event)
        finally:
            self.stats.incr("handled")

    async def _queue(self, event: Event) -> list[BridgeRecord]:
        assert self._store is not None
        redelivered = event.delivery is not None and event.delivery.redelivered
        held = await self._already_held(event.id) if redelivered else set()
        plans: list[tuple[_Destination, Event, list[str], list[Violation]]] = []
        for dest in self.destinations.values():
            out, changes = dest.forward(event, self.marker, self.id)
            plans.append((dest, out, changes, list(dest.client.validate(out))))
        items: list[Outgoing] = []
        for dest, out, _changes, violations in plans:
            if (dest.name, bool(violations)) in held:
                continue
            if violations:
                refused = attrs.evolve(
                    out,
                    meta={"bridge": self.id, "destination": dest.name, "provider": dest.provider},
                )
                items.append(Outgoing(self.dead_key, dest.name, encode_event(refused)))
            else:
                items.append(Outgoing(dest.provider, dest.target, encode_event(out)))
        ids = iter(await self._store.enqueue(items)) if items else iter(())
        records = []
        for dest, out, changes, violations in plans:
            common: dict[str, Any] = {
                "destination": dest.name,
                "provider": dest.provider,
                "target": dest.target,
                "forwarded_as": out.name,
                "changes": tuple(changes),
            }
            if (dest.name, bool(violations)) in held:
                dest.stats.incr("duplicates_skipped")
                records.append(BridgeRecord("duplicate", event.id, event.name, **common))
                continue
            outbox_id = next(ids)
            if changes:
                dest.stats.incr("converted")
            if violations:
                text = "; ".join(str(v) for v in violations)
                await self._store.fail(outbox_id, error=f"refused by {dest.provider}: {text}"[:2000], dead=True)
                dest.stats.incr("refused")
                self.stats.incr("refused")
                log.warning("bridge %s: %s refused %s (%s): %s", self.id, dest.name, event.name, event.id, text)
                records.append(
                    BridgeRecord(
                        "refused",
                        event.id,
                        event.name,
                        violations=tuple(str(v) for v in violations),
                        outbox_id=outbox_id,
                        **common,
                    )
                )
                continue
            dest.stats.incr("queued")
            if redelivered:
                dest.stats.incr("possible_duplicates")
            assert dest.outbox is not None
            dest.outbox.wake()
            records.append(
                BridgeRecord(
                    "queued", event.id, event.name, possible_duplicate=redelivered, outbox_id=outbox_id, **common
                )
            )
        return records

    async def _already_held(self, source_id: str) -> set[tuple[str, bool]]:
        """Which destinations already hold a copy of this source event (queued, or dead-lettered)."""
        assert self._store is not None
        found: set[tuple[str, bool]] = set()
        for dest in self.destinations.values():
            for item in await self._store.outbox(dest.provider, limit=_SCAN_LIMIT):
                if item.key == dest.target and _event_id(item) == source_id:
                    found.add((dest.name, False))
        for item in await self._store.outbox(self.dead_key, limit=_SCAN_LIMIT):
            if _event_id(item) == source_id and item.key in self.destinations:
                found.add((item.key, True))
        return found

    # Reports

    async def drain(self, timeout: float | None = None) -> int:
        """Wait until every destination's outbox is empty (or ``timeout`` seconds); the number still pending.

        With ``deliver=False`` it only counts what is pending (nothing here delivers).
        """
        await self.start()
        outboxes = [d.outbox for d in self.destinations.values() if d.outbox is not None]
        if not self.deliver:
            return sum([await o.pending() for o in outboxes])
        self._start_drainers()
        left = await asyncio.gather(*(o.drain(timeout) for o in outboxes))
        return sum(left)

    async def dead_letters(self, limit: int = 100) -> list[tuple[Event, str | None]]:
        """Events a destination refused, with why (oldest first)."""
        await self.start()
        assert self._store is not None
        out = []
        for item in await self._store.outbox(self.dead_key, limit=limit):
            try:
                out.append((decode_event(item.payload), item.last_error))
            except StoreError:
                continue
        return out

    def summary(self) -> dict[str, Any]:
        """Counters for the bridge and per destination (delivered as the outbox drainers counted)."""
        return {
            "bridge": self.id,
            **self.stats.snapshot(),
            "destinations": {
                name: {
                    "provider": d.provider,
                    "target": d.target,
                    **d.stats.snapshot(),
                    "delivered": d.client.stats["outbox_delivered"],
                    "failed": d.client.stats["outbox_dead"],
                    "resent_after_lease": d.client.stats["possible_duplicates"],
                }
                for name, d in self.destinations.items()
            },
        }


def _event_id(item: OutboxItem) -> str | None:
    try:
        return decode_event(item.payload).id
    except StoreError:
        return None
