"""Several providers at once: one event to every configured provider, one merged stream back.

Teams moving between vendors run both side by side for a while: ``send`` gives one
:class:`SendResult` per provider (never raising for one provider's failure), each
provider reaching the event through its own route (``to="@orders"``); ``listen``
merges every provider's events, each with ``event.provider`` set.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Iterable, Iterator, Mapping, Union

import attrs

from ._client import AsyncClient, Client, EventLike, ProviderRef, _open, connect_async
from ._errors import SettingsError
from ._event import Event
from ._portal import Portal
from ._results import SendResult

ProviderSpec = Union[Iterable[ProviderRef], Mapping[str, Mapping[str, Any]]]


def _specs(providers: ProviderSpec) -> list[tuple[ProviderRef, dict[str, Any]]]:
    if isinstance(providers, Mapping):
        specs = [(name, dict(settings)) for name, settings in providers.items()]
    elif isinstance(providers, (str, bytes)):
        raise SettingsError("connect_many() takes several providers: a list of names or URLs, or a mapping")
    else:
        specs = [(ref, {}) for ref in providers]
    if not specs:
        raise SettingsError("connect_many() needs at least one provider")
    return specs


def _opened(
    providers: ProviderSpec, environ: Mapping[str, str] | None, config: str | os.PathLike[str] | None
) -> list[tuple[Any, Any, str, dict[str, str]]]:
    opened = []
    for ref, settings in _specs(providers):
        if config is not None:
            settings.setdefault("config", config)
        # A per-provider ``environ`` (as connect() takes it) wins over the shared one.
        opened.append(_open(ref, settings, settings.pop("environ", environ)))
    names = [provider.name for provider, *_ in opened]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SettingsError(f"connect_many() got {', '.join(duplicated)} more than once; results are per provider")
    return opened


def connect_many(
    providers: ProviderSpec,
    *,
    environ: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> ManyClient:
    """A blocking client over several providers: ``connect_many(["stream", "vonage"])``.

    Give names or URLs (settings from the environment or ``eventkit.toml``), or a
    mapping of name to keyword settings.
    """
    return ManyClient([Client(*parts) for parts in _opened(providers, environ, config)])


def connect_many_async(
    providers: ProviderSpec,
    *,
    environ: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> AsyncManyClient:
    """The async form of :func:`connect_many`; use it with ``async with``."""
    return AsyncManyClient([AsyncClient(*parts) for parts in _opened(providers, environ, config)])


async def merge(sources: Mapping[str, AsyncIterator[Event]]) -> AsyncIterator[Event]:
    """Events from several listeners as they arrive, each with ``provider`` set.

    A source is asked for its next event only after the consumer asked for the
    next one, so a durable listener's "handled when the next is asked for" still
    holds per source.
    """
    waiting: dict[asyncio.Future[Event], str] = {}
    try:
        for name, source in sources.items():
            waiting[asyncio.ensure_future(source.__anext__())] = name
        while waiting:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: waiting[f]):
                name = waiting.pop(future)
                try:
                    event = future.result()
                except StopAsyncIteration:
                    continue
                yield event if event.provider else attrs.evolve(event, provider=name)
                waiting[asyncio.ensure_future(sources[name].__anext__())] = name
    finally:
        for future in waiting:
            future.cancel()
        for future in waiting:
            try:
                await future
            except (asyncio.CancelledError, StopAsyncIteration, Exception):
                pass
        for source in sources.values():
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()


class AsyncManyClient:
    """Several async clients behind one ``send`` and one ``listen``."""

    def __init__(self, clients: Iterable[AsyncClient]) -> None:
        self.clients: dict[str, AsyncClient] = {client.name: client for client in clients}

    def __repr__(self) -> str:
        return f"<AsyncManyClient {', '.join(c.url for c in self.clients.values())}>"

    async def send(
        self,
        event: EventLike | str,
        data: Mapping[str, Any] | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
        id: str | None = None,
    ) -> dict[str, SendResult]:
        """One event (one id) to every provider at once; a result per provider, failures included."""
        first = next(iter(self.clients.values()))
        ev = first.make_event(event, data, sender=sender, id=id)
        results = await asyncio.gather(*(c.send_many([ev], to=to, concurrency=1) for c in self.clients.values()))
        return {name: found[0] for name, found in zip(self.clients, results, strict=True)}

    def listen(
        self,
        names: Iterable[str] | str | None = None,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AsyncIterator[Event]:
        """Every provider's events merged; ``options`` gives listen options per provider name."""
        options = options or {}
        unknown = sorted(set(options) - set(self.clients))
        if unknown:
            raise SettingsError(f"listen options for providers not connected here: {', '.join(unknown)}")
        return merge({n: c.listen(names, **dict(options.get(n, {}))) for n, c in self.clients.items()})

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients.values()))

    async def __aenter__(self) -> AsyncManyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ManyClient:
    """Several blocking clients behind one ``send`` and one ``listen``."""

    def __init__(self, clients: Iterable[Client]) -> None:
        self.clients: dict[str, Client] = {client.name: client for client in clients}
        self._pool: ThreadPoolExecutor | None = None
        self._portal: Portal | None = None

    def __repr__(self) -> str:
        return f"<ManyClient {', '.join(c.url for c in self.clients.values())}>"

    def send(
        self,
        event: EventLike | str,
        data: Mapping[str, Any] | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
        id: str | None = None,
    ) -> dict[str, SendResult]:
        """One event (one id) to every provider at once; a result per provider, failures included."""
        first = next(iter(self.clients.values()))
        ev = first.make_event(event, data, sender=sender, id=id)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=len(self.clients), thread_name_prefix="eventkit-many")
        futures = {n: self._pool.submit(c.send_many, [ev], to=to, concurrency=1) for n, c in self.clients.items()}
        return {name: future.result()[0] for name, future in futures.items()}

    def listen(
        self,
        names: Iterable[str] | str | None = None,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Iterator[Event]:
        """A blocking iterator over every provider's events (the listeners share one background loop)."""
        if self._portal is None:
            self._portal = Portal()
        peers = [AsyncClient(c.provider, c.transport, c.url, c.routes) for c in self.clients.values()]
        many = AsyncManyClient(peers)
        return self._portal.iterate(lambda: many.listen(names, options=options))

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._portal is not None:
            self._portal.close()
            self._portal = None

    def __enter__(self) -> ManyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["AsyncManyClient", "ManyClient", "connect_async", "connect_many", "connect_many_async", "merge"]
