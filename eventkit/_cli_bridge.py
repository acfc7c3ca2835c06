"""The command line's ``bridge``: listen on one provider, forward to others (:mod:`eventkit._bridge`).

Kept apart from :mod:`eventkit._cli` so the bridge's options read as one piece;
``_cli`` adds its arguments and dispatches here.

Output: one JSON line per source event per destination (``status`` queued,
duplicate or refused; ``skipped`` lines for events the loop guard stopped), then
one ``{"summary": ...}`` line. Exit 0 when everything handled was queued and
delivered, 1 when an event was refused (dead-lettered) or copies were still
undelivered after ``--drain-timeout``, 2 for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any, TextIO

from ._errors import SettingsError


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("bridge", help="forward every event one provider receives to others, durably")
    p.add_argument("source", metavar="SOURCE", help="provider name or URL to listen on")
    p.add_argument(
        "--to",
        action="append",
        required=True,
        dest="destinations",
        metavar="DEST=TARGET",
        help="a provider name (or URL without a query) and its target, e.g. vonage=conversation:CON-1 (repeatable)",
    )
    p.add_argument("--store", required=True, metavar="URL", help="durable store: sqlite:///bridge.db or redis://...")
    p.add_argument("--map", action="append", default=[], metavar="DEST:FROM=TO", help="rename an event for DEST")
    p.add_argument("--sender", action="append", default=[], metavar="DEST=ID", help="the sender to write as on DEST")
    p.add_argument(
        "--payload",
        action="append",
        default=[],
        metavar="DEST=MODE",
        help="auto (default), strings or keep: how non-string values go to DEST",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings", help="source setting")
    p.add_argument(
        "--set-to", action="append", default=[], metavar="DEST:KEY=VALUE", dest="dest_settings", help="DEST setting"
    )
    p.add_argument("--name", action="append", dest="names", metavar="NAME", help="only these source names")
    p.add_argument("--via", help="source listen mode (default: the provider's first)")
    p.add_argument("--host", default="127.0.0.1", help="webhook server address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="webhook server port (default 8080)")
    p.add_argument("--count", type=int, help="stop after this many source events")
    p.add_argument("--id", dest="bridge_id", metavar="ID", help="the bridge's id (default SOURCE>DEST+DEST)")
    p.add_argument("--marker", default="eventkit_bridge", metavar="KEY", help="loop-guard data key")
    p.add_argument(
        "--skip-sender", action="append", default=[], metavar="ID", help="never forward this sender's events"
    )
    p.add_argument("--consumer", metavar="NAME", help="consumer name (default: the host name)")
    p.add_argument("--drain-timeout", type=float, default=10.0, help="seconds to wait for delivery at exit")
    p.add_argument(
        "--queue-only",
        action="store_true",
        help="only queue the copies; `eventkit outbox drain DEST` (or another process) delivers them",
    )
    p.add_argument(
        "--outbox-lease",
        type=float,
        metavar="S",
        help="how long a drainer holds a copy it is sending (default: the longest send, at least 30 s)",
    )


def _pairs(items: list[str], option: str, sep: str = "=") -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key or not value:
            raise SettingsError(f"{option} needs DEST{sep}..., got {item!r}")
        out.append((key, value))
    return out


def _provider_name(text: str) -> str:
    from ._cli_store import _provider_name as name

    found = name(text)
    assert found is not None
    return found


def _split_destination(text: str) -> tuple[str, str]:
    """``vonage=conversation:CON-1`` -> (``vonage``, target); a URL's own ``=`` come only after ``?``."""
    head, found, target = text.partition("=")
    if not found or not head or not target or "?" in head:
        raise SettingsError(
            f"--to needs DEST=TARGET (e.g. vonage=conversation:CON-1), got {text!r}; "
            "give a URL's query settings with --set-to instead"
        )
    return head, target


def cmd_bridge(args: argparse.Namespace, out: TextIO, source_settings: dict[str, Any]) -> int:
    from ._bridge import Bridge, BridgeRoute
    from ._capabilities import ListenMode
    from ._client import connect_async

    if args.count is not None and args.count < 1:
        raise SettingsError("--count must be at least 1")
    destinations = [_split_destination(d) for d in args.destinations]
    keys = [_provider_name(name) for name, _ in destinations]
    per_dest: dict[str, dict[str, Any]] = {key: {} for key in keys}
    for dest, pair in _pairs(args.dest_settings, "--set-to", ":"):
        key, found, value = pair.partition("=")
        if dest not in per_dest or not found or not key:
            raise SettingsError(f"--set-to {dest}:{pair}: needs DEST:KEY=VALUE with DEST one of {', '.join(keys)}")
        per_dest[dest][key] = value
    maps: dict[str, dict[str, str]] = {key: {} for key in keys}
    for dest, pair in _pairs(args.map, "--map", ":"):
        old, found, new = pair.partition("=")
        if dest not in maps or not found or not old or not new:
            raise SettingsError(f"--map {dest}:{pair}: needs DEST:FROM=TO with DEST one of {', '.join(keys)}")
        maps[dest][old] = new
    senders: dict[str, str] = {}
    payloads: dict[str, str] = {}
    for option, values, into in (("--sender", args.sender, senders), ("--payload", args.payload, payloads)):
        for dest, value in _pairs(values, option):
            if dest not in per_dest:
                raise SettingsError(f"{option} {dest}=...: DEST must be one of {', '.join(keys)}")
            into[dest] = value

    async def run() -> int:
        async with contextlib.AsyncExitStack() as stack:
            source = await stack.enter_async_context(connect_async(args.source, store=args.store, **source_settings))
            routes = {}
            for (name, target), key in zip(destinations, keys, strict=True):
                client = await stack.enter_async_context(
                    connect_async(name, outbox_lease=args.outbox_lease, **per_dest[key])
                )
                routes[key] = BridgeRoute(
                    client, target, names=maps[key], sender=senders.get(key), payload=payloads.get(key, "auto")
                )
            modes = source.provider.capabilities.listen
            via = ListenMode(args.via) if args.via else (modes[0] if modes else None)
            options: dict[str, Any] = {
                "on_ready": lambda address: print(f"listening: {address}", file=sys.stderr, flush=True)
            }
            if via is ListenMode.WEBHOOK:
                options.update(host=args.host, port=args.port)
            bridge = Bridge(
                source,
                routes,
                store=args.store,
                id=args.bridge_id,
                marker=args.marker,
                skip_senders=args.skip_sender,
                names=args.names,
                via=via,
                consumer=args.consumer,
                listen_options=options,
                deliver=not args.queue_only,
            )

            def line(record: Any) -> None:
                out.write(json.dumps(record.to_dict(), ensure_ascii=False, default=str) + "\n")
                out.flush()

            async with bridge:
                try:
                    await bridge.run(args.count, on_record=line)
                finally:
                    left = await bridge.drain(args.drain_timeout)
                    summary = bridge.summary()
                    out.write(json.dumps({"summary": {**summary, "pending": left}}, default=str) + "\n")
                    out.flush()
            if left:
                print(f"eventkit: {left} forwarded events not yet delivered (they stay in the outbox)", file=sys.stderr)
            refused = int(summary.get("refused", 0))
            if refused:
                print(f"eventkit: {refused} events refused by a destination (dead-lettered)", file=sys.stderr)
            return 1 if left or refused else 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 0
