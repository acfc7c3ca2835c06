"""Several receiver processes on one Redis store (issue 13, item 3): what a load balancer in front of
replicas does to a platform's retries, and a Redis that goes away mid-run.

Real processes (``delivery_procs.py receiver``), real Redis (the session's, or one started here
for the restart test), signed Stream webhooks over loopback.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from redis_support import REDIS_SERVER, RedisServer, delete_prefix, new_prefix, redis_url_or_skip, store_url
from test_delivery_proofs import Proc, start_receiver, stored_events, stream_call

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

COUNT = 6000
"""Issue 13's figure: 6,000 webhooks spread over three replicas, every third retried on another."""


async def post(client: httpx.AsyncClient, url: str, n: int, gate: asyncio.Semaphore) -> tuple[int, dict[str, Any]]:
    headers, body = stream_call(n)
    async with gate:
        answer = await client.post(f"{url}/stream", content=body, headers=headers)
    return answer.status_code, answer.json()


async def test_three_replicas_store_each_delivery_once_whichever_replica_gets_the_retry() -> None:
    base = redis_url_or_skip()
    prefix = new_prefix()
    url = store_url(base, prefix, max_events=100_000)
    procs: list[Proc] = []
    try:
        replicas = []
        for _ in range(3):
            proc, hook = await start_receiver(url)
            procs.append(proc)
            replicas.append(hook)
        gate = asyncio.Semaphore(48)
        async with httpx.AsyncClient(timeout=30) as client:
            first = await asyncio.gather(*(post(client, replicas[n % 3], n, gate) for n in range(COUNT)))
            # The platform retries every third delivery; the load balancer sends it to another replica.
            retried = list(range(0, COUNT, 3))
            again = await asyncio.gather(*(post(client, replicas[(n + 1) % 3], n, gate) for n in retried))
        assert [status for status, _ in first] == [200] * COUNT
        assert all(status == 200 and payload == {"duplicate": True} for status, payload in again)
        copies = Counter(event.data["n"] for event in await stored_events(url))
        assert set(copies) == set(range(COUNT)) and max(copies.values()) == 1  # every one, none twice
    finally:
        for proc in procs:
            proc.kill()
        await delete_prefix(base, prefix)


@pytest.mark.skipif(REDIS_SERVER is None, reason="restarting Redis needs the redis-server binary")
async def test_receivers_answer_503_while_redis_is_away_and_lose_nothing_they_acknowledged() -> None:
    server = RedisServer(aof=True).start()  # AOF, fsync always: what the docs ask of production
    url = store_url(server.url, new_prefix())
    procs: list[Proc] = []
    try:
        replicas = []
        for _ in range(2):
            proc, hook = await start_receiver(url)
            procs.append(proc)
            replicas.append(hook)
        gate = asyncio.Semaphore(16)
        answers: dict[int, int] = {}
        async with httpx.AsyncClient(timeout=30) as client:
            for n in range(200):
                answers[n] = (await post(client, replicas[n % 2], n, gate))[0]
            server.kill()  # SIGKILL: whatever was acknowledged must already be on disk
            while_away = []
            for n in range(200, 220):
                headers, body = stream_call(n)
                response = await client.post(f"{replicas[n % 2]}/stream", content=body, headers=headers)
                answers[n] = response.status_code
                while_away.append(response)
            server.start()
            for n in range(220, 400):
                answers[n] = (await post(client, replicas[n % 2], n, gate))[0]
        assert all(r.status_code == 503 and r.headers.get("retry-after") for r in while_away)
        acknowledged = {n for n, status in answers.items() if status == 200}
        assert set(range(200)) | set(range(220, 400)) <= acknowledged
        stored = {event.data["n"] for event in await stored_events(url)}
        assert acknowledged <= stored  # nothing that got a 2xx is lost
    finally:
        for proc in procs:
            proc.kill()
        server.stop()
