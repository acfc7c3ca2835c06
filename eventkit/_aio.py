"""Asyncio helpers listeners share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def wait_within(awaitable: Awaitable[T], timeout: float) -> T:
    """``asyncio.wait_for`` that never swallows the caller's cancellation.

    On CPython before 3.12, ``wait_for`` can lose a cancellation that arrives as
    the inner awaitable completes; a listener's consumer then cancels it and
    waits forever. This runs the awaitable as a task and waits with
    ``asyncio.wait``, which always lets the caller's cancellation through.
    Raises :class:`asyncio.TimeoutError` when ``timeout`` passes first.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise asyncio.TimeoutError
    return task.result()
