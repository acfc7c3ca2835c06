from __future__ import annotations

import asyncio

import pytest

from eventkit.provider import wait_within


async def test_returns_the_result() -> None:
    async def quick() -> int:
        return 7

    assert await wait_within(quick(), 1.0) == 7


async def test_timeout_cancels_the_inner_awaitable() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(asyncio.TimeoutError):
        await wait_within(slow(), 0.01)
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_the_callers_cancellation_always_gets_through() -> None:
    """Cancel the caller while the inner awaitable is finishing in the same loop turn."""
    for _ in range(50):
        inner: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def caller(fut: asyncio.Future[int] = inner) -> int:
            return await wait_within(fut, 5)

        task = asyncio.ensure_future(caller())
        await asyncio.sleep(0)
        inner.set_result(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
