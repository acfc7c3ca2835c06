"""The command line's durable-delivery commands: ``outbox``, ``dead-letters``, ``send --outbox``.

Kept apart from :mod:`eventkit._cli` so the store's commands read as one piece;
``_cli`` adds their arguments and dispatches here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, TextIO

from ._errors import SettingsError


def add_arguments(sub: Any) -> None:
    """The ``outbox`` and ``dead-letters`` subcommands."""
    p = sub.add_parser("outbox", help="list, deliver or delete the events an outbox holds")
    p.add_argument("action", choices=["list", "drain", "purge"])
    p.add_argument("provider", metavar="PROVIDER_OR_URL", nargs="?", help="only this provider (drain needs it)")
    p.add_argument("--store", required=True, metavar="URL", help="the store, e.g. sqlite:///events.db")
    p.add_argument("--timeout", type=float, default=30.0, help="drain: seconds to wait (default 30)")
    p.add_argument("--dead", action="store_true", help="list: only dead items")
    p.add_argument("--limit", type=int, default=1000, help="list: at most this many (default 1000)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings")

    p = sub.add_parser("dead-letters", help="list or replay received events a consumer group gave up on")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("--store", required=True, metavar="URL")
    p.add_argument("--group", help="a consumer group as stored, e.g. stream:default (default: all)")
    p.add_argument("--id", action="append", dest="ids", metavar="ID", help="replay: only these entries (repeatable)")
    p.add_argument("--limit", type=int, default=1000)


def _provider_name(text: str | None) -> str | None:
    if text is None:
        return None
    if "://" not in text:
        return text
    from . import _registry

    name: str = _registry.for_scheme(text.split("://", 1)[0]).name
    return name


def _payload_view(payload: bytes) -> Any:
    from ._store.codec import decode_event

    try:
        event = decode_event(payload)
    except Exception:
        return {"undecodable": len(payload)}
    return {"name": event.name, "id": event.id, "target": event.target}


def cmd_outbox(args: argparse.Namespace, out: TextIO, settings: dict[str, Any]) -> int:
    from ._store import open_store

    provider = _provider_name(args.provider)

    async def run() -> int:
        if args.action == "drain":
            if args.provider is None:
                raise SettingsError("eventkit outbox drain needs PROVIDER_OR_URL (its credentials send the events)")
            from ._client import connect_async

            async with connect_async(args.provider, store=args.store, outbox=True, **settings) as kit:
                remaining = await kit.drain(args.timeout)
                for result in kit.outbox_results:
                    out.write(json.dumps(result.to_dict(), default=str) + "\n")
                out.write(json.dumps({"remaining": remaining}) + "\n")
                return 0 if remaining == 0 else 1
        async with open_store(args.store) as store:
            if args.action == "purge":
                out.write(json.dumps({"purged": await store.purge(provider)}) + "\n")
                return 0
            items = await store.outbox(provider, limit=args.limit, dead=True if args.dead else None)
            for item in items:
                row = {
                    "id": item.id,
                    "provider": item.provider,
                    "target": item.key,
                    "attempts": item.attempts,
                    "possible_duplicate": item.possible_duplicate,
                    "error": item.last_error,
                    "event": _payload_view(item.payload),
                }
                out.write(json.dumps(row, default=str) + "\n")
            return 0

    return asyncio.run(run())


def cmd_dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    from ._store import open_store

    async def run() -> int:
        async with open_store(args.store) as store:
            if args.action == "replay":
                moved = await store.replay(args.group, args.ids)
                out.write(json.dumps({"replayed": moved}) + "\n")
                return 0
            for dead in await store.dead_letters(args.group, limit=args.limit):
                row = {
                    "id": dead.id,
                    "group": dead.group,
                    "provider": dead.provider,
                    "attempts": dead.attempts,
                    "error": dead.error,
                    "event": _payload_view(dead.payload),
                }
                out.write(json.dumps(row, default=str) + "\n")
            return 0

    return asyncio.run(run())


def send_through_outbox(args: argparse.Namespace, data: dict[str, Any], settings: dict[str, Any], out: TextIO) -> int:
    """Store the event, try once; ``"queued": true`` and exit 0 if it must wait for a later drain."""
    from ._client import connect_async
    from ._outbox import Outbox

    async def run() -> int:
        kit = connect_async(args.provider, store=args.store, outbox=True, **settings)
        try:
            ev = kit.make_event(args.name, data, to=args.to, sender=args.sender)
            kit.prepare(ev)
            store = await kit._shared_store()
            outbox = Outbox(store, kit.name, kit._get_sender(), kit.transport, kit.stats)
            (item_id,) = await outbox.enqueue([(ev, str(ev.target))])
            await outbox.drain_once(attempts=1)
            mine = [r for r in outbox.results if r.event.id == ev.id]
            pending = {item.id for item in await store.outbox(kit.name, limit=1_000_000)}
            if item_id in pending:
                dead = {item.id for item in await store.outbox(kit.name, limit=1_000_000, dead=True)}
                row: dict[str, Any] = kit._queued(ev).to_dict()
                if mine and mine[-1].error is not None:
                    row["error"] = mine[-1].error.to_dict()
                if item_id in dead:
                    row["queued"] = False
                    row["dead"] = True
                    out.write(json.dumps(row, default=str) + "\n")
                    return 1
                out.write(json.dumps(row, default=str) + "\n")
                return 0
            result = mine[-1] if mine else kit._queued(ev)
            out.write(json.dumps(result.to_dict(), default=str) + "\n")
            return 0
        finally:
            await kit.aclose()

    return asyncio.run(run())
