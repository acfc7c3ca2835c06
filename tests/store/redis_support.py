"""Real Redis for the Redis store tests, and the worker processes the multi-process tests run.

Which Redis: ``EVENTKIT_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); if it
does not answer and ``redis-server`` is installed, one is started on a free loopback port
for the session (no persistence). Otherwise the tests skip, or fail when
``EVENTKIT_REQUIRE_REDIS=1`` (CI). Every test gets its own key prefix and its keys are
deleted afterwards, so tests never see each other's data on a shared Redis.

Run as a script this module is a worker (``consume`` or ``drain``) for the tests that
kill a process midway; it prints one JSON line per step so the test can follow it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

REDIS_SERVER = shutil.which("redis-server")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    """Whether a Redis at ``url`` answers PING within a second."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def write_self_signed(directory: str) -> str:
    """A certificate (and key.pem) for 127.0.0.1 in ``directory``; the certificate's path."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path = Path(directory) / "cert.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (Path(directory) / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path)


class RedisServer:
    """A ``redis-server`` process of the test's own, on a free loopback port."""

    def __init__(self, *, aof: bool = False, password: str | None = None, tls: bool = False) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.aof = aof
        self.password = password
        self.directory = tempfile.mkdtemp(prefix="eventkit-redis-")
        self.cert = write_self_signed(self.directory) if tls else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.cert:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert REDIS_SERVER is not None
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--save", "", "--dir", self.directory]
        if self.cert:
            key = str(Path(self.directory) / "key.pem")
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.cert]
            args += ["--tls-key-file", key, "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.aof:
            # What the docs ask of production: every acknowledged write is on disk first.
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


_session_url: str | None = None
_session_server: RedisServer | None = None


def redis_url_or_skip() -> str:
    """The Redis the tests use, started if need be; skips (or fails when required) without one."""
    global _session_url, _session_server
    if _session_url is not None:
        return _session_url
    url = os.environ.get("EVENTKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if answers(url):
        _session_url = url
        return url
    if REDIS_SERVER is not None:
        _session_server = RedisServer().start()
        atexit.register(_session_server.stop)
        _session_url = _session_server.url
        return _session_url
    reason = f"no Redis answers at {url} and redis-server is not installed (set EVENTKIT_TEST_REDIS_URL)"
    if os.environ.get("EVENTKIT_REQUIRE_REDIS") == "1":
        pytest.fail(f"EVENTKIT_REQUIRE_REDIS=1: {reason}")
    pytest.skip(reason)


def new_prefix() -> str:
    return f"ektest:{uuid.uuid4().hex[:12]}:"


_used_prefixes: list[tuple[str, str]] = []


def remember_prefix(url: str, prefix: str) -> str:
    """Note a prefix the shared contract suite uses; its keys are deleted when the session ends."""
    if not _used_prefixes:
        atexit.register(_delete_used_prefixes)
    _used_prefixes.append((url, prefix))
    return prefix


def _delete_used_prefixes() -> None:
    import redis

    for url, prefix in _used_prefixes:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=5.0)
            try:
                keys = list(client.scan_iter(match="{" + prefix + "}*", count=1000))
                for i in range(0, len(keys), 500):
                    client.delete(*keys[i : i + 500])
            finally:
                client.close()
        except (redis.RedisError, OSError):
            pass  # a server started for the session is gone already, and its keys with it


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key of a store (they all start with its hash tag ``{prefix}``)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        batch: list[Any] = []
        async for key in client.scan_iter(match="{" + prefix + "}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await client.delete(*batch)
                batch = []
        if batch:
            await client.delete(*batch)
    finally:
        await client.aclose()


def store_url(base: str, prefix: str, **params: object) -> str:
    query = "&".join([f"prefix={prefix}", *(f"{k}={v}" for k, v in params.items())])
    return f"{base}{'&' if '?' in base else '?'}{query}"


# Fixtures are registered under their public names, so test modules import the function
# names below (with a noqa for F401) without shadowing them with the parameter of the same name.


@pytest.fixture(name="redis_url")
def redis_url_fixture() -> str:
    return redis_url_or_skip()


@pytest.fixture(name="make_store")
async def make_store_fixture(redis_url: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``await make_store(max_events=3, ...)``: an opened RedisStore on a fresh prefix (shared when given)."""
    from eventkit._store._redis import RedisStore

    made: list[Any] = []
    prefixes: set[str] = set()

    async def make(prefix: str | None = None, **params: object) -> RedisStore:
        prefix = prefix or new_prefix()
        prefixes.add(prefix)
        store = RedisStore.from_url(store_url(redis_url, prefix, **params))
        await store.open()
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()
    for prefix in prefixes:
        await delete_prefix(redis_url, prefix)


@contextlib.contextmanager
def worker(*args: str) -> Any:
    """A worker process (this module as a script) whose stdout lines the test reads; always reaped."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        bufsize=1,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


# Worker processes


def _emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def _consume(url: str, group: str, consumer: str, die_after: int, claim_idle: float) -> None:
    """Read and ack batches; with ``die_after`` > 0, after that many batches take one more and hang (to be killed)."""
    from eventkit._store._redis import RedisStore

    async with RedisStore.from_url(url) as store:
        done = 0
        while True:
            batch = await store.read(group, consumer, count=5, timeout=0.5, claim_idle=claim_idle)
            if not batch:
                continue
            items = [[d.id, d.payload.decode(), d.attempts] for d in batch]
            if die_after and done >= die_after:
                _emit(held=items)
                await asyncio.sleep(3600)
            _emit(batch=items)
            await store.ack(group, [d.id for d in batch])
            _emit(acked=[d.id for d in batch])
            done += 1


async def _drain(url: str, provider: str, owner: str, die_after: int, lease: float, log: str) -> None:
    """Lease, "send" (a line in ``log``) and complete; with ``die_after``, hang after sending a later batch."""
    from eventkit._store._redis import RedisStore

    async with RedisStore.from_url(url) as store:
        done = 0
        while True:
            items = await store.lease(provider, owner, count=3, lease=lease)
            if not items:
                await asyncio.sleep(0.05)
                continue
            with open(log, "a", encoding="utf-8") as out:
                for item in items:
                    line = {"id": item.id, "key": item.key, "pd": item.possible_duplicate, "owner": owner}
                    out.write(json.dumps(line) + "\n")
            if die_after and done >= die_after:
                _emit(held=[item.id for item in items])
                await asyncio.sleep(3600)
            await store.complete([item.id for item in items])
            _emit(completed=[item.id for item in items])
            done += 1


def main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "consume":
        url, group, consumer, die_after, claim_idle = rest
        asyncio.run(_consume(url, group, consumer, int(die_after), float(claim_idle)))
    elif kind == "drain":
        url, provider, owner, die_after, lease, log = rest
        asyncio.run(_drain(url, provider, owner, int(die_after), float(lease), log))
    else:
        raise SystemExit(f"unknown worker {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
