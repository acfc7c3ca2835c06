"""Store factories for the one contract suite (``test_store_contract.py``).

Every contract test takes ``make_store`` and runs once per backend in
``STORE_KINDS``. A backend enters the suite with two lines:

1. add its name to ``STORE_KINDS``;
2. add a branch to ``_base_url`` returning its URL for one test, with the
   ``params`` the test asks for. Parameters the contract tests use are the shared
   ones (``max_events``, ``max_bytes``, ``retention``, ``dedupe_ttl``); ``_FAST``
   holds a backend's own settings that make time-based behaviour quick in tests.

For Redis, e.g.::

    STORE_KINDS = ["memory", "sqlite", "redis"]
    ...
    if kind == "redis":
        _require_redis()  # pytest.skip with a reason, or fail when EVENTKIT_REQUIRE_REDIS=1
        return f"redis://127.0.0.1:6379/15?prefix=eventkit-test-{uuid.uuid4().hex}"

and clean its keys in ``make_store``'s teardown if the backend does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest

from eventkit._store import Store, open_store

STORE_KINDS = ["memory", "sqlite", "redis"]

_FAST: dict[str, dict[str, str]] = {
    "memory": {},
    # Sweep on every batch and poll often, so "eventually deleted" and cross-process reads settle quickly.
    "sqlite": {"sweep_interval": "0", "poll_interval": "0.05"},
    # Trim at every write, so "eventually deleted" settles at once.
    "redis": {"trim_interval": "0"},
}


def _base_url(kind: str, tmp_path: Path, n: int) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'store-{n}.db'}"
    if kind == "redis":
        # A real Redis (started for the session if need be), a fresh key prefix per store;
        # redis_support deletes the prefixes at the end of the session.
        from redis_support import new_prefix, redis_url_or_skip, remember_prefix

        base = redis_url_or_skip()
        return f"{base}{'&' if '?' in base else '?'}prefix={remember_prefix(base, new_prefix())}"
    raise AssertionError(f"no URL for store kind {kind!r}")


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url_factory(store_kind: str, tmp_path: Path) -> Callable[..., str]:
    """``store_url_factory(max_events=3, retention="1s")``: a fresh store URL of this test's backend."""
    made = [0]

    def make(**params: object) -> str:
        made[0] += 1
        url = _base_url(store_kind, tmp_path, made[0])
        query = {**_FAST[store_kind], **{k: str(v) for k, v in params.items()}}
        if not query:
            return url
        return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"

    return make


@pytest.fixture
async def make_store(store_url_factory: Callable[..., str]) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """``await make_store(max_events=3)``: an opened store, closed after the test."""
    opened: list[Store] = []

    async def make(**params: object) -> Store:
        store = open_store(store_url_factory(**params))
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.aclose()
