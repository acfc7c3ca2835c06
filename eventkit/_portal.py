"""The one background event loop: a loop running in a daemon thread.

The sync client drives async providers (AMI, websockets, in-process listening)
on one, one loop per client; the testing kit's loopback servers and emulators
run on one each, so sync clients, async clients and pytest use them alike.
(``Portal``, the client's old name for it, is the same class.)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()


class BackgroundLoop:
    """An asyncio loop in a daemon thread, and ways to run work on it from other threads.

    ``timeout`` is how long :meth:`run` waits by default (``None``: as long as it takes);
    ``close_timeout`` bounds how long :meth:`close` waits for cancelled tasks to finish.
    """

    def __init__(
        self, name: str = "eventkit-portal", *, timeout: float | None = None, close_timeout: float | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self.timeout = timeout
        self.close_timeout = close_timeout
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
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

    _UNSET: Any = object()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = _UNSET) -> T:
        """Run ``coro`` on the loop and wait for its result (``timeout`` defaults to the loop's)."""
        wait = self.timeout if timeout is BackgroundLoop._UNSET else timeout
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(wait)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """:meth:`run` under the name the sync client uses."""
        return self.run(coro)

    def run_sync(self, fn: Callable[[], T]) -> T:
        """Call a plain function on the loop's thread (to touch state the loop owns) and return its result."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def call_factory(self, factory: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await factory()

        return self.run(run())

    def iterate(self, make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """A blocking iterator over an async iterator built and consumed on the loop.

        The first item is requested at once, so the listener starts (connects,
        subscribes, calls ``on_ready``) when ``listen()`` returns, not at the
        first ``next()``: a caller can wait for readiness, then send.
        """
        return _PortalIterator(self, make)

    def close(self) -> None:
        """Cancel every task on the loop, wait for them, stop the loop and join its thread."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(shutdown(), timeout=self.close_timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5 if self.close_timeout is None else self.close_timeout)
            self._loop.close()


Portal = BackgroundLoop
"""The sync client's name for :class:`BackgroundLoop` (kept as an alias)."""


def _async(make: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def build() -> T:
        return make()

    return build


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


class _PortalIterator(Iterator[T]):
    def __init__(self, portal: BackgroundLoop, make: Callable[[], AsyncIterator[T]]) -> None:
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
