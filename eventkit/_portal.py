"""A background event loop that lets the sync client drive async providers.

HTTP providers have a native blocking path; AMI, websockets and in-process
listening are async, so the sync client runs them here, one loop per client.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()


class Portal:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="eventkit-portal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def call_factory(self, factory: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await factory()

        return self.call(run())

    def iterate(self, make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """A blocking iterator over an async iterator built and consumed on the loop.

        The first item is requested at once, so the listener starts (connects,
        subscribes, calls ``on_ready``) when ``listen()`` returns, not at the
        first ``next()``: a caller can wait for readiness, then send.
        """
        return _PortalIterator(self, make)

    def close(self) -> None:
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()


def _async(make: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def build() -> T:
        return make()

    return build


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


class _PortalIterator(Iterator[T]):
    def __init__(self, portal: Portal, make: Callable[[], AsyncIterator[T]]) -> None:
        self._portal = portal
        self._iterator: AsyncIterator[T] = portal.call_factory(_async(make))
        self._next: Any = asyncio.run_coroutine_threadsafe(_anext(self._iterator), portal.loop)
        self._closed = False

    def __iter__(self) -> _PortalIterator[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            item: T = self._next.result()
        except StopAsyncIteration:
            self.close()
            raise StopIteration from None
        except BaseException:
            self.close()
            raise
        self._next = asyncio.run_coroutine_threadsafe(_anext(self._iterator), self._portal.loop)
        return item

    def close(self, wait: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._next.cancel()
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is None or self._portal.loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(aclose(), self._portal.loop)
        if wait and threading.current_thread() is not self._portal.thread:
            try:
                future.result()
            except (RuntimeError, StopAsyncIteration, asyncio.CancelledError):
                pass

    def __del__(self) -> None:
        # An abandoned listener must not keep its connection open; never block here
        # (the collector may run on the portal's own thread).
        try:
            self.close(wait=False)
        except Exception:
            pass
