"""Engines under stress: whole-attempt timeouts, a bounded pool, stale connections, TLS by path or context.

Every server here is a real socket on loopback: a tiny hand-written HTTP/1.1
peer where the test needs to misbehave on purpose (drip, close mid-exchange),
uvicorn where it needs a real server (TLS).
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from core_demo_provider import DemoProvider

import eventkit
from eventkit import SendTimeoutError, SettingsError, UnavailableError
from eventkit._codec import HttpRequest
from eventkit._transport import StdlibEngine
from eventkit._transport._stdlib import Pool
from eventkit.testing import AsgiServer
from eventkit.testing._background import free_port

TOKEN = "limits-token-value"
SYNC_ENGINES = ["stdlib", "httpx"]
ASYNC_ENGINES = ["aiohttp", "httpx"]
ANSWER = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"id": "e1"}'


def read_request(conn: socket.socket, buffer: bytearray) -> bytes | None:
    """One whole request (head and Content-Length body) from ``conn``; ``None`` once the peer closed."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    del buffer[:]
    buffer += rest[length:]
    return head


class RawServer:
    """A loopback HTTP/1.1 peer; ``serve(conn, number)`` handles the ``number``-th connection (from 1)."""

    def __init__(self, serve: Callable[[socket.socket, int], None]) -> None:
        self.serve = serve
        self.accepted = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    def count_request(self) -> None:
        with self.lock:
            self.requests += 1

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.accepted += 1
                number = self.accepted
                self._conns.append(conn)
            thread = threading.Thread(target=self._run, args=(conn, number), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, conn: socket.socket, number: int) -> None:
        try:
            self.serve(conn, number)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(5)
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        self.listener.close()


def keep_alive(server: RawServer) -> Callable[[socket.socket, int], None]:
    """Answer every request on the connection, keeping it open."""

    def serve(conn: socket.socket, number: int) -> None:
        buffer = bytearray()
        while read_request(conn, buffer) is not None:
            server.count_request()
            conn.sendall(ANSWER)

    return serve


def dripping(server: RawServer, head_at_once: bool = False) -> Callable[[socket.socket, int], None]:
    """Read the request, then send the answer one byte every 0.2 s: every read is quick, the answer never ends.

    ``head_at_once``: the status line and headers arrive at once, only the body drips.
    """

    def serve(conn: socket.socket, number: int) -> None:
        if read_request(conn, bytearray()) is None:
            return
        server.count_request()
        dripped = ANSWER
        if head_at_once:
            head, _, dripped = ANSWER.partition(b"\r\n\r\n")
            conn.sendall(head + b"\r\n\r\n")
        for byte in dripped:
            if server._stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    return serve


# Whole-attempt timeouts


@pytest.mark.parametrize("head_at_once", [False, True], ids=["all-dripped", "body-dripped"])
@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_sync_timeout_bounds_a_dripped_answer(engine: str, head_at_once: bool) -> None:
    server = RawServer(lambda c, n: None)
    server.serve = dripping(server, head_at_once)
    with (
        server,
        eventkit.connect(
            DemoProvider, token=TOKEN, base_url=server.url, http_engine=engine, timeout=0.5, max_attempts=1, environ={}
        ) as kit,
    ):
        started = time.monotonic()
        with pytest.raises(SendTimeoutError) as caught:
            kit.send("x", {}, to="topic:t")
        took = time.monotonic() - started
    assert caught.value.maybe_delivered and server.requests == 1
    assert took < 5, "a hang guard, not a timing check: the dripped answer takes 17 s to finish"


@pytest.mark.parametrize("head_at_once", [False, True], ids=["all-dripped", "body-dripped"])
@pytest.mark.parametrize("engine", ASYNC_ENGINES)
async def test_async_timeout_bounds_a_dripped_answer(engine: str, head_at_once: bool) -> None:
    server = RawServer(lambda c, n: None)
    server.serve = dripping(server, head_at_once)
    with server:
        async with eventkit.connect_async(
            DemoProvider, token=TOKEN, base_url=server.url, http_engine=engine, timeout=0.5, max_attempts=1, environ={}
        ) as kit:
            started = time.monotonic()
            with pytest.raises(SendTimeoutError) as caught:
                await kit.send("x", {}, to="topic:t")
            took = time.monotonic() - started
    assert caught.value.maybe_delivered and server.requests == 1
    assert took < 5, "a hang guard, not a timing check"


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_deadline_bounds_retries(engine: str) -> None:
    """Every attempt times out; ``deadline`` ends the send long before ``max_attempts`` would."""
    server = RawServer(lambda c, n: None)
    server.serve = dripping(server)
    with (
        server,
        eventkit.connect(
            DemoProvider,
            token=TOKEN,
            base_url=server.url,
            http_engine=engine,
            timeout=0.3,
            deadline=1.0,
            max_attempts=50,
            backoff_initial=0.05,
            backoff_max=0.1,
            environ={},
        ) as kit,
    ):
        (result,) = kit.send_many([{"name": "x", "target": "topic:t"}])
    assert isinstance(result.error, SendTimeoutError)
    assert 1 <= result.attempts < 10 and server.requests == result.attempts
    assert result.elapsed < 5


async def test_async_deadline_shortens_the_attempt() -> None:
    server = RawServer(lambda c, n: None)
    server.serve = dripping(server)
    with server:
        async with eventkit.connect_async(
            DemoProvider, token=TOKEN, base_url=server.url, timeout=30, deadline=0.5, max_attempts=5, environ={}
        ) as kit:
            (result,) = await kit.send_many([{"name": "x", "target": "topic:t"}])
    assert isinstance(result.error, SendTimeoutError) and result.attempts == 1
    assert result.elapsed < 5


# A bounded pool, one executor per client


def _open_sockets() -> int | None:
    """TCP sockets this process holds (Linux /proc), or None where that cannot be read."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return None
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd).startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_send_many_calls_reuse_a_bounded_pool(engine: str) -> None:
    server = RawServer(lambda c, n: None)
    server.serve = keep_alive(server)
    with (
        server,
        eventkit.connect(DemoProvider, token=TOKEN, base_url=server.url, http_engine=engine, environ={}) as kit,
    ):
        baseline = _open_sockets()
        counts = []
        for _ in range(5):
            results = kit.send_many([{"name": f"e{i}"} for i in range(64)], to="topic:t", concurrency=16)
            assert all(r.ok for r in results)
            counts.append(_open_sockets())
        threads = [t.name for t in threading.enumerate() if t.name.startswith("eventkit-send")]
    assert server.requests == 5 * 64
    assert server.accepted <= 16, f"{server.accepted} connections for 5 calls: the pool must bound them"
    assert len(threads) <= 16, "one executor per client, not one per call"
    if baseline is not None:
        # Both ends live in this process: at most 16 client sockets and their 16 server peers.
        assert max(c or 0 for c in counts) - baseline <= 2 * 16, f"open sockets after each call: {counts}"
    assert not [t for t in threading.enumerate() if t.name.startswith("eventkit-send")], "close() ends the threads"


def test_pool_waits_for_a_free_connection_and_gives_up_at_the_deadline() -> None:
    pool = Pool(1)
    origin = ("http", "127.0.0.1:1")
    first, reused = pool.take(origin, time.monotonic() + 1)
    assert first is None and not reused and pool.open == 1
    with pytest.raises(Exception, match="no pooled connection became free"):
        pool.take(origin, time.monotonic() + 0.05)
    pool.discard(None)
    assert pool.open == 0
    assert pool.take(origin, time.monotonic() + 0.05) == (None, False)


# Stale keep-alive connections


def test_a_connection_that_fails_on_write_is_replaced_once_without_a_duplicate() -> None:
    """The idle check passes, the write fails (the connection is dead for sending): one fresh connection."""
    server = RawServer(lambda c, n: None)
    server.serve = keep_alive(server)
    with server:
        engine = StdlibEngine(eventkit.connect("memory", environ={}).transport, "demo")
        request = HttpRequest("POST", f"{server.url}/topics/t/events", {"content-type": "application/json"}, b"{}")
        try:
            assert engine.request(request, 5).status == 201
            (idle,) = engine.pool._idle
            assert idle.conn.sock is not None
            idle.conn.sock.shutdown(socket.SHUT_WR)  # nothing to read, but a write now fails (EPIPE)
            assert engine.request(request, 5).status == 201
        finally:
            engine.close()
    assert server.requests == 2 and server.accepted == 2


def closes_the_second_request_unanswered(server: RawServer) -> Callable[[socket.socket, int], None]:
    """Answer the first request on each connection; read the second, then close without a word."""

    def serve(conn: socket.socket, number: int) -> None:
        buffer = bytearray()
        for index in range(2):
            if read_request(conn, buffer) is None:
                return
            server.count_request()
            if index == 0:
                conn.sendall(ANSWER)
        conn.shutdown(socket.SHUT_RDWR)

    return serve


def test_an_unanswered_post_on_a_reused_connection_is_not_repeated_silently() -> None:
    """The platform may have it: the engine reports maybe_delivered and the retry policy decides."""
    server = RawServer(lambda c, n: None)
    server.serve = closes_the_second_request_unanswered(server)
    with server:
        with eventkit.connect(
            DemoProvider, token=TOKEN, base_url=server.url, http_engine="stdlib", max_attempts=1, environ={}
        ) as kit:
            assert kit.send("x", {}, to="topic:t").ok
            with pytest.raises(UnavailableError) as caught:
                kit.send("x", {}, to="topic:t")
        assert caught.value.maybe_delivered and server.requests == 2
        with eventkit.connect(
            DemoProvider, token=TOKEN, base_url=server.url, http_engine="stdlib", backoff_initial=0.01, environ={}
        ) as kit:
            assert kit.send("x", {}, to="topic:t").ok
            result = kit.send("x", {}, to="topic:t")
        assert result.ok and result.attempts == 2 and result.possible_duplicate


def test_an_unanswered_idempotent_request_on_a_reused_connection_is_repeated_once() -> None:
    server = RawServer(lambda c, n: None)
    server.serve = closes_the_second_request_unanswered(server)
    with server:
        engine = StdlibEngine(eventkit.connect("memory", environ={}).transport, "demo")
        request = HttpRequest("PUT", f"{server.url}/things/1", {"content-type": "application/json"}, b"{}")
        try:
            assert engine.request(request, 5).status == 201
            assert engine.request(request, 5).status == 201
        finally:
            engine.close()
    assert server.requests == 3 and server.accepted == 2


# TLS: verify=True/False, a CA bundle file or directory, an SSLContext


def _make_ca_and_leaf(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 that it signed: (ca.pem, leaf.pem, leaf.key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eventkit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, leaf_path, key_path = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, leaf_path, key_path


async def _ok_app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"id": "tls-1"}'})


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    import uvicorn

    ca, leaf, key = _make_ca_and_leaf(tmp_path_factory.mktemp("ca"))
    port = free_port()
    config = uvicorn.Config(
        _ok_app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(leaf),
        ssl_keyfile=str(key),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield f"https://127.0.0.1:{port}", ca
    server.should_exit = True
    thread.join(5)


def _ca_directory(ca: Path, tmp: Path) -> Path | None:
    """A CA directory as OpenSSL looks one up (``<subject hash>.0``), made with the openssl tool if present."""
    try:
        out = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(ca)], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    directory = tmp / "cadir"
    directory.mkdir(exist_ok=True)
    (directory / f"{out.stdout.strip()}.0").write_bytes(ca.read_bytes())
    return directory


def _verify_forms(ca: Path, tmp: Path) -> list[object]:
    context = ssl.create_default_context(cafile=str(ca))
    forms: list[object] = [str(ca), context]
    directory = _ca_directory(ca, tmp)
    if directory is not None:
        forms.append(str(directory))
    return forms


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_sync_verify_takes_a_ca_bundle_or_a_context(engine: str, tls_server: tuple[str, Path], tmp_path: Path) -> None:
    url, ca = tls_server
    for verify in _verify_forms(ca, tmp_path):
        with eventkit.connect(
            DemoProvider, token=TOKEN, base_url=url, http_engine=engine, verify=verify, environ={}
        ) as kit:
            assert kit.send("x", {}, to="topic:t").id == "tls-1", verify
    with eventkit.connect(
        DemoProvider, token=TOKEN, base_url=url, http_engine=engine, max_attempts=1, environ={}
    ) as kit:
        with pytest.raises(UnavailableError, match="TLS") as caught:
            kit.send("x", {}, to="topic:t")
        assert not caught.value.retryable


@pytest.mark.parametrize("engine", ASYNC_ENGINES)
async def test_async_verify_takes_a_ca_bundle_or_a_context(
    engine: str, tls_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, ca = tls_server
    for verify in _verify_forms(ca, tmp_path):
        async with eventkit.connect_async(
            DemoProvider, token=TOKEN, base_url=url, http_engine=engine, verify=verify, environ={}
        ) as kit:
            assert (await kit.send("x", {}, to="topic:t")).id == "tls-1", verify
    async with eventkit.connect_async(
        DemoProvider, token=TOKEN, base_url=url, http_engine=engine, max_attempts=1, environ={}
    ) as kit:
        with pytest.raises(UnavailableError, match="TLS"):
            await kit.send("x", {}, to="topic:t")


def test_verify_is_checked_at_connect(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"verify.*no CA bundle"):
        eventkit.connect(DemoProvider, token=TOKEN, verify=str(tmp_path / "missing.pem"), environ={})
    with pytest.raises(SettingsError, match="verify"):
        eventkit.connect(DemoProvider, token=TOKEN, verify=3, environ={})
    kit = eventkit.connect(DemoProvider, token=TOKEN, environ={"EVENTKIT_DEMO_VERIFY": "false"})
    assert kit.transport.verify is False
    kit = eventkit.connect(DemoProvider, token=TOKEN, environ={"EVENTKIT_DEMO_VERIFY": str(tmp_path)})
    assert kit.transport.verify == str(tmp_path)
    assert eventkit.connect(DemoProvider, token=TOKEN, verify=tmp_path, environ={}).transport.verify == str(tmp_path)


def test_the_pool_holds_against_uvicorn() -> None:
    """The tiny peers above are not the only server: 3 calls of 30 events, 8 in flight, at most 8 connections."""
    peers: set[tuple[str, int]] = set()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        peers.add(tuple(scope["client"]))
        await _ok_app(scope, receive, send)

    with AsgiServer(app) as server, eventkit.connect(DemoProvider, token=TOKEN, base_url=server.url, environ={}) as kit:
        for _ in range(3):
            assert all(r.ok for r in kit.send_many([{"name": f"e{i}"} for i in range(30)], to="topic:t", concurrency=8))
    assert 1 <= len(peers) <= 8
