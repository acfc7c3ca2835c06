"""Processes the durable-delivery proofs start and SIGKILL: a receiver, a consumer, an outbox sender.

Run as ``python delivery_procs.py <role> ...``; each writes what the test needs to
know (its port, what it printed) to stdout, one flushed line at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vonage"))

STREAM_KEY = "key"
STREAM_SECRET = "webhook-secret-0123456789abcdef-0123456789abcdef"


def say(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def receiver(store: str, stalled: bool = False) -> None:
    """A webhook receiver for Stream and Vonage on its own store; ``stalled``: one subscriber that never reads."""
    from vonage_support import settings as vonage_settings

    import eventkit
    from eventkit._serve import serve

    stream = eventkit.connect("stream", api_key=STREAM_KEY, api_secret=STREAM_SECRET, environ={}).provider
    vonage = eventkit.connect("vonage", environ={}, **vonage_settings()).provider
    app = eventkit.WebhookReceiver([stream, vonage], store=store, retry_after=1)
    if stalled:
        app.events()  # registered with the receiver, never read
    await app.open()
    async with serve(app, "127.0.0.1", 0) as (_server, port):
        say({"port": port})
        await asyncio.Event().wait()


async def consumer(store: str, die_at: int, go: str) -> None:
    """``listen()`` over webhooks on a store; SIGKILLs itself on receiving event ``die_at``, before handling it.

    It waits for the file ``go`` before dying, so the test's webhooks all got their answer.
    """
    import eventkit

    async with eventkit.connect_async(
        "stream", api_key=STREAM_KEY, api_secret=STREAM_SECRET, environ={}, store=store
    ) as kit:
        async for event in kit.listen(via="webhook", port=0, on_ready=lambda url: say({"url": url})):
            n = event.data["n"]
            if n == die_at:
                while not os.path.exists(go):
                    await asyncio.sleep(0.01)
                os.kill(os.getpid(), signal.SIGKILL)
            assert event.delivery is not None
            say({"n": n, "redelivered": event.delivery.redelivered, "attempts": event.delivery.attempts})


async def outbox(store: str, base_url: str, count: int) -> None:
    """Queue ``count`` Stream events through the outbox, then drain until killed."""
    import eventkit

    async with eventkit.connect_async(
        "stream",
        api_key="emulator-key",
        api_secret="emulator-secret-0123456789abcdef-0123456789abcdef",
        base_url=base_url,
        environ={},
        store=store,
        outbox=True,
        outbox_lease=1.0,
        backoff_initial=0.01,
    ) as kit:
        # Ten targets: the outbox keeps order per target, so one target is one send at a time.
        events = [{"name": "proof", "data": {"n": n}, "target": f"channel:messaging:c{n % 10}"} for n in range(count)]
        results = await kit.send_many(events, sender="tommaso")
        say({"queued": sum(r.queued for r in results)})
        await kit.drain(None)
        say({"drained": True})


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "receiver":
        asyncio.run(receiver(rest[0], stalled=rest[1:] == ["stalled"]))
    elif role == "consumer":
        asyncio.run(consumer(rest[0], int(rest[1]), rest[2]))
    elif role == "outbox":
        asyncio.run(outbox(rest[0], rest[1], int(rest[2])))
    else:
        raise SystemExit(f"unknown role {role}")
