"""The two senders: an HTTP codec's requests, sent by the engine ``_select`` picks, under the retry policy."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .._codec import HttpCodec, HttpRequest
from .._errors import EventkitError, SendTimeoutError
from .._event import Event
from .._results import Receipt, SendResult
from .._retry import RetryLoop
from .._settings import Policy
from .._stats import Counters
from .._targets import Target
from ._select import async_engine, sync_engine

if TYPE_CHECKING:
    from .._provider import Provider


def _budget(limit: float, timeout: float, provider: str) -> float:
    """The time an attempt may take: ``timeout``, or less when the send's ``deadline`` is nearer."""
    left = limit - time.monotonic()
    if left <= 0:
        raise SendTimeoutError("deadline reached before this attempt", provider=provider, retryable=False)
    return min(timeout, left)


class HttpSender:
    """Blocking sends of an HTTP codec's requests under the retry policy."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: Policy, stats: Counters) -> None:
        self.codec = codec
        self.name = provider.name
        self.loop = RetryLoop(provider.name, policy, stats, redactor=provider.redactor)
        self.engine = sync_engine(policy, provider.name)
        self.timeout = policy.timeout
        self.deadline = policy.deadline

    def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        parse = self.codec.parse_response
        engine, timeout, loop = self.engine, self.timeout, self.loop
        if self.deadline is None:
            if loop.fast_path():
                # The first attempt inline (no closure, no loop frame): what nearly every send needs.
                started = time.monotonic()
                wait = loop.gate.reserve()
                if wait > 0:
                    time.sleep(wait)
                try:
                    receipt = parse(request, engine.request(request, timeout))
                except EventkitError as error:
                    attempt = lambda: parse(request, engine.request(request, timeout))  # noqa: E731
                    return loop.run(event, target, attempt, started=started, failed=error)
                return loop.succeeded(event, target, started, receipt)
            return loop.run(event, target, lambda: parse(request, engine.request(request, timeout)))
        limit = time.monotonic() + self.deadline
        return self.loop.run(
            event, target, lambda: parse(request, engine.request(request, _budget(limit, timeout, self.name)))
        )

    def close(self) -> None:
        self.engine.close()


class AsyncHttpSender:
    """Async sends of an HTTP codec's requests under the retry policy."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: Policy, stats: Counters) -> None:
        self.codec = codec
        self.name = provider.name
        self.loop = RetryLoop(provider.name, policy, stats, redactor=provider.redactor)
        self.engine = async_engine(policy, provider.name)
        self.timeout = policy.timeout
        self.deadline = policy.deadline

    async def _attempt(self, request: HttpRequest, limit: float | None) -> Receipt:
        timeout = self.timeout if limit is None else _budget(limit, self.timeout, self.name)
        return self.codec.parse_response(request, await self.engine.request(request, timeout))

    async def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        loop = self.loop
        if self.deadline is None and loop.fast_path():
            # The first attempt inline: two coroutine frames and a closure fewer per send.
            started = time.monotonic()
            wait = loop.gate.reserve()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                receipt = self.codec.parse_response(request, await self.engine.request(request, self.timeout))
            except EventkitError as error:
                return await loop.arun(
                    event, target, lambda: self._attempt(request, None), started=started, failed=error
                )
            return loop.succeeded(event, target, started, receipt)
        limit = None if self.deadline is None else time.monotonic() + self.deadline
        return await loop.arun(event, target, lambda: self._attempt(request, limit))

    async def aclose(self) -> None:
        await self.engine.aclose()
