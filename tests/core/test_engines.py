"""Every HTTP engine behaves the same on the wire and maps failures to the same errors."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_demo_provider import DemoProvider

import eventkit
from eventkit import SendTimeoutError, SettingsError, UnavailableError
from eventkit._transport import AiohttpEngine, AsyncHttpxEngine, HttpxEngine, StdlibEngine, async_engine, sync_engine
from eventkit.testing import AsgiServer
from eventkit.testing._background import free_port

TOKEN = "engine-token-value"
SYNC_ENGINES = ["stdlib", "httpx"]
ASYNC_ENGINES = ["aiohttp", "httpx"]


class Recorder:
    """A tiny platform: records requests, answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.delay = 0.0
        self.status = 201

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(
            {
                "path": scope["raw_path"].decode(),
                "query": scope["query_string"].decode(),
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body": body,
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        payload = json.dumps({"id": f"evt-{len(self.requests)}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json"), (b"x-ratelimit-remaining", b"5")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def platform() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    with AsgiServer(recorder) as server:
        yield recorder, server.url


@pytest.fixture(autouse=True)
def reset(platform: tuple[Recorder, str]) -> None:
    platform[0].requests.clear()
    platform[0].delay = 0.0
    platform[0].status = 201


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_sync_engines_put_the_same_request_on_the_wire(engine: str, platform: tuple[Recorder, str]) -> None:
    recorder, url = platform
    with eventkit.connect(DemoProvider, token=TOKEN, base_url=url, http_engine=engine, environ={}) as kit:
        results = [kit.send("hello", {"n": i}, to="topic:a?b/c") for i in range(3)]
    assert [r.id for r in results] == ["evt-1", "evt-2", "evt-3"]
    assert results[0].rate_limit is not None and results[0].rate_limit.remaining == 5
    first = recorder.requests[0]
    assert first["path"] == "/topics/a%3Fb%2Fc/events" and json.loads(first["body"]) == {
        "name": "hello",
        "data": {"n": 0},
    }
    assert first["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert first["headers"]["user-agent"].startswith("eventkit/")


@pytest.mark.parametrize("engine", ASYNC_ENGINES)
async def test_async_engines_put_the_same_request_on_the_wire(engine: str, platform: tuple[Recorder, str]) -> None:
    recorder, url = platform
    async with eventkit.connect_async(DemoProvider, token=TOKEN, base_url=url, http_engine=engine, environ={}) as kit:
        results = await kit.send_many([{"name": "hello", "data": {"n": i}} for i in range(20)], to="topic:t")
    assert all(r.ok for r in results) and len(recorder.requests) == 20
    assert recorder.requests[0]["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_sync_timeout_is_ambiguous(engine: str, platform: tuple[Recorder, str]) -> None:
    recorder, url = platform
    recorder.delay = 0.5
    with (
        eventkit.connect(
            DemoProvider, token=TOKEN, base_url=url, http_engine=engine, timeout=0.1, max_attempts=1, environ={}
        ) as kit,
        pytest.raises(SendTimeoutError) as caught,
    ):
        kit.send("x", {}, to="topic:t")
    assert caught.value.maybe_delivered and caught.value.retryable


@pytest.mark.parametrize("engine", ASYNC_ENGINES)
async def test_async_timeout_is_ambiguous(engine: str, platform: tuple[Recorder, str]) -> None:
    recorder, url = platform
    recorder.delay = 0.5
    async with eventkit.connect_async(
        DemoProvider, token=TOKEN, base_url=url, http_engine=engine, timeout=0.1, max_attempts=1, environ={}
    ) as kit:
        with pytest.raises(SendTimeoutError) as caught:
            await kit.send("x", {}, to="topic:t")
    assert caught.value.maybe_delivered


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_sync_connection_refused_is_not_ambiguous(engine: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        eventkit.connect(
            DemoProvider, token=TOKEN, base_url=url, http_engine=engine, max_attempts=1, environ={}
        ) as kit,
        pytest.raises(UnavailableError) as caught,
    ):
        kit.send("x", {}, to="topic:t")
    assert not caught.value.maybe_delivered and caught.value.retryable


@pytest.mark.parametrize("engine", ASYNC_ENGINES)
async def test_async_connection_refused_is_not_ambiguous(engine: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with eventkit.connect_async(
        DemoProvider, token=TOKEN, base_url=url, http_engine=engine, max_attempts=1, environ={}
    ) as kit:
        with pytest.raises(UnavailableError) as caught:
            await kit.send("x", {}, to="topic:t")
    assert not caught.value.maybe_delivered


@pytest.mark.parametrize("announce_close", [True, False])
def test_stdlib_survives_a_server_closing_connections(announce_close: bool) -> None:
    """A server that closes every connection after one answer, with or without saying so.

    Unannounced, the close reaches the client while the connection is idle; the
    client must notice before reusing it (a request written to it would be
    ambiguous: the platform may or may not have it).
    """
    answered = 0
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        nonlocal answered
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                while len(body) < length:
                    body += conn.recv(65536)
                answered += 1
                close = b"Connection: close\r\n" if announce_close else b""
                conn.sendall(
                    b"HTTP/1.1 201 Created\r\n"
                    + close
                    + b"Content-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with eventkit.connect(
            DemoProvider,
            token=TOKEN,
            base_url=f"http://127.0.0.1:{port}",
            http_engine="stdlib",
            max_attempts=1,
            environ={},
        ) as kit:
            for _ in range(5):
                assert kit.send("x", {}, to="topic:t").ok
                if not announce_close:
                    time.sleep(0.05)  # idle long enough for the close to arrive
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert answered == 5


def _self_signed(tmp: Path) -> tuple[Path, Path]:
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
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    port = free_port()
    config = uvicorn.Config(
        Recorder(),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.mark.parametrize("engine", SYNC_ENGINES)
def test_tls_is_verified_by_default(engine: str, tls_platform: str) -> None:
    with eventkit.connect(DemoProvider, token=TOKEN, base_url=tls_platform, http_engine=engine, environ={}) as kit:
        with pytest.raises(UnavailableError, match="TLS") as caught:
            kit.send("x", {}, to="topic:t")
        assert not caught.value.retryable and caught.value.status is None
    with eventkit.connect(
        DemoProvider, token=TOKEN, base_url=tls_platform, http_engine=engine, verify=False, environ={}
    ) as kit:
        assert kit.send("x", {}, to="topic:t").ok


async def test_async_tls_is_verified_by_default(tls_platform: str) -> None:
    for engine in ASYNC_ENGINES:
        async with eventkit.connect_async(
            DemoProvider, token=TOKEN, base_url=tls_platform, http_engine=engine, environ={}
        ) as kit:
            with pytest.raises(UnavailableError, match="TLS"):
                await kit.send("x", {}, to="topic:t")


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventkit._settings import TransportSettings

    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(sync_engine(TransportSettings(), "p"), StdlibEngine)
    assert isinstance(async_engine(TransportSettings(), "p"), AiohttpEngine)
    import httpx

    mock = httpx.MockTransport(lambda r: httpx.Response(200))
    assert isinstance(sync_engine(TransportSettings(http_transport=mock), "p"), HttpxEngine)
    assert isinstance(async_engine(TransportSettings(http_transport=mock), "p"), AsyncHttpxEngine)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert isinstance(sync_engine(TransportSettings(), "p"), HttpxEngine)
    with pytest.raises(SettingsError):
        sync_engine(TransportSettings(http_engine="aiohttp"), "p")
    with pytest.raises(SettingsError):
        TransportSettings(http_engine="curl")
    assert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED
