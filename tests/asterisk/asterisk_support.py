"""Helpers shared by the asterisk tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import asyncio
from typing import Any

from eventkit_asterisk.testing.emulator import AmiEmulator

import eventkit

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 3.0}


def ami_settings(server: AmiEmulator, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port, "username": "app", "secret": "s3cret-pw", **FAST, **extra}


class Collector:
    """Runs ``kit.listen`` in a task and keeps what arrives."""

    def __init__(self, kit: eventkit.AsyncClient, **options: Any) -> None:
        self.kit = kit
        self.options = options
        self.events: list[eventkit.Event] = []
        self.ready = asyncio.Event()
        self.addresses: list[str] = []
        self.task: asyncio.Task[None] | None = None

    def _on_ready(self, address: str) -> None:
        self.addresses.append(address)
        self.ready.set()

    async def _run(self) -> None:
        async for event in self.kit.listen(on_ready=self._on_ready, **self.options):
            self.events.append(event)

    async def __aenter__(self) -> Collector:
        self.task = asyncio.ensure_future(self._run())
        waiter = asyncio.ensure_future(self.ready.wait())
        await asyncio.wait({waiter, self.task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            waiter.cancel()
            self.task.result()
        assert self.ready.is_set(), "listener never became ready"
        return self

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[eventkit.Event]:
        for _ in range(int(timeout / 0.01)):
            if len(self.events) >= count:
                break
            if self.task is not None and self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        return self.events

    async def wait_for_sessions(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``on_ready`` was called ``count`` times (a reconnect logs in again)."""
        for _ in range(int(timeout / 0.01)):
            if len(self.addresses) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"the listener became ready {len(self.addresses)} times, not {count}")

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
