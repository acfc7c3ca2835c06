"""Running a bridge against sandboxes: its listener's address goes to the emulator, readiness is awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import eventkit
from eventkit._bridge import Bridge, BridgeRoute
from eventkit.testing.sandbox import Sandbox, missing_requirements


def need(*sandboxes: type[Sandbox]) -> None:
    for cls in sandboxes:
        missing = missing_requirements(cls)
        if missing:
            pytest.skip(f"{cls.name} emulator needs {', '.join(missing)} (pip install eventkit[dev])")


def make_bridge(
    source: Sandbox,
    source_kit: eventkit.AsyncClient,
    destinations: dict[str, BridgeRoute],
    store: str,
    **options: Any,
) -> tuple[Bridge, asyncio.Event]:
    """A bridge listening the way ``source`` listens, telling the emulator where it is."""
    ready = asyncio.Event()

    def on_ready(address: str) -> None:
        source.on_listening(address)
        ready.set()

    listen_options = {**source.listen_options(), "on_ready": on_ready}
    bridge = Bridge(
        source_kit, destinations, store=store, via=source.listen_via, listen_options=listen_options, **options
    )
    return bridge, ready


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "the condition") -> None:
    """Wait (without a timing assertion) until ``check()`` holds; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)
