"""One provider in a cross-vendor test: :class:`ProviderCase` (the ``eventkit_provider`` fixture).

Kept apart from the pytest plugin so ``from eventkit.testing import ProviderCase``
(for type hints in a user's tests) imports neither pytest nor any emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import eventkit

    from .sandbox import RoundTrip, Sandbox


class ProviderCase:
    """One provider in a ``for_each_provider`` run: its sandbox, a client, a round trip."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.name = sandbox.name
        self.provider = sandbox.provider
        self.target = sandbox.target
        self.sender = sandbox.sender
        self._clients: list[eventkit.Client] = []

    def __repr__(self) -> str:
        return f"<ProviderCase {self.name}>"

    @property
    def capabilities(self) -> eventkit.Capabilities:
        from eventkit import _registry

        caps: eventkit.Capabilities = _registry.load(self.provider).capabilities
        return caps

    def connect(self, **extra: Any) -> eventkit.Client:
        """A sync client connected to the emulator; closed when the test ends."""
        kit = self.sandbox.connect(**extra)
        self._clients.append(kit)
        return kit

    def connect_async(self, **extra: Any) -> eventkit.AsyncClient:
        """An async client (use ``async with``); listen with ``via=case.sandbox.listen_via``."""
        return self.sandbox.connect_async(**extra)

    def round_trip(self, name: str, data: dict[str, Any] | None = None, *, timeout: float = 5.0) -> RoundTrip:
        """Send through the provider and receive on its listening path; raises the trip's error if any.

        It runs its own event loop, so it cannot be called from a running one: an
        async test uses :meth:`round_trip_async`.
        """
        from ._background import refuse_on_running_loop
        from .sandbox import round_trip_sync

        refuse_on_running_loop(None, "round_trip_async", subject="case")
        trip = round_trip_sync(self.sandbox, name, data, timeout=timeout)
        if trip.error is not None:
            raise trip.error
        return trip

    async def round_trip_async(
        self, name: str, data: dict[str, Any] | None = None, *, timeout: float = 5.0
    ) -> RoundTrip:
        """:meth:`round_trip` for an async test: runs on the test's own event loop."""
        from .sandbox import round_trip

        trip = await round_trip(self.sandbox, name, data, timeout=timeout)
        if trip.error is not None:
            raise trip.error
        return trip

    def expected(self, sent: eventkit.Event) -> dict[str, Any]:
        return self.sandbox.expected(sent)

    def close(self) -> None:
        for kit in self._clients:
            kit.close()
        self._clients.clear()
