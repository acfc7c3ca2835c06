"""The real provider over HTTP and a real websocket against the ARI emulator (uvicorn) on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asterisk_support import FAST, Collector
from eventkit_asterisk.testing.emulator import AmiEmulator, AriEmulator

import eventkit
from eventkit import AuthenticationError, NotFoundError, ValidationError


@pytest.fixture(scope="module")
def ari(ami: AmiEmulator) -> Iterator[AriEmulator]:
    server = AriEmulator(
        {"asterisk": "ari-secret-pw"}, apps=("idle-app",), channels=("chan-1",), bridges=("br-1",), ami=ami
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


def ari_settings(server: AriEmulator, **extra: Any) -> dict[str, Any]:
    base = {"ari_url": server.url, "ari_username": "asterisk", "ari_password": "ari-secret-pw", "ari_app": "ek"}
    return {**base, **FAST, **extra}


async def test_send_and_listen_keep_json_types(ari: AriEmulator) -> None:
    data = {"OrderId": "ORD-1", "Amount": 49.99, "Nested": {"a": [1, 2]}, "Flag": True, "Nothing": None}
    async with eventkit.connect_async("asterisk", **ari_settings(ari)) as kit, Collector(kit, via="websocket") as ws:
        result = await kit.send("Plus+Sign %2B", data, to="app:ek")
        (event,) = await ws.wait_for(1)
    assert result.status == 204
    assert event.name == "Plus+Sign %2B"  # "+" went as %2B, so Asterisk's legacy decoding keeps it
    assert event.data == data
    assert event.meta["application"] == "ek"
    request = ari.requests[-1]
    assert request["headers"]["content-type"] == "application/json"


async def test_channel_source_reaches_ari_and_ami(ari: AriEmulator, ami: AmiEmulator) -> None:
    ami_kit_settings = {"port": ami.port, "username": "app", "secret": "s3cret-pw", **FAST}
    async with (
        eventkit.connect_async("asterisk", **ari_settings(ari)) as kit,
        eventkit.connect_async("asterisk", **ami_kit_settings) as ami_kit,
        Collector(kit, via="websocket") as ws,
        Collector(ami_kit, via="tcp") as tcp,
    ):
        await kit.send("OnChannel", {"k": "v", "n": 3}, to="app:ek?source=channel:chan-1")
        (event,) = await ws.wait_for(1)
        (ami_event,) = await tcp.wait_for(1)
    assert event.source == "channel:chan-1" and event.data == {"k": "v", "n": 3}
    assert ami_event.name == "OnChannel" and ami_event.source == "channel:chan-1"
    assert ami_event.data == {"k": "v", "n": "3"}  # Asterisk flattens ARI JSON to plain AMI strings


async def test_api_key_auth(ari: AriEmulator) -> None:
    settings = ari_settings(ari, ari_username=None, ari_password=None, ari_api_key="asterisk:ari-secret-pw")
    async with eventkit.connect_async("asterisk", **settings) as kit, Collector(kit, via="websocket") as ws:
        await kit.send("ApiKey", {}, to="app:ek")
        (event,) = await ws.wait_for(1)
    assert event.name == "ApiKey"


async def test_platform_errors_are_typed(ari: AriEmulator) -> None:
    async with eventkit.connect_async("asterisk", **ari_settings(ari)) as kit:
        with pytest.raises(NotFoundError) as missing:
            await kit.send("E", {}, to="app:nope")
        with pytest.raises(ValidationError) as bad_source:
            await kit.send("E", {}, to="app:idle-app?source=channel:doesnt-exist")
        assert (await kit.send("E", {}, to="app:idle-app?source=bridge:br-1")).ok
    assert missing.value.status == 404 and missing.value.body == {"message": "Application not found"}
    assert bad_source.value.status == 422 and bad_source.value.violations


async def test_wrong_password_on_send_and_listen(ari: AriEmulator) -> None:
    async with eventkit.connect_async("asterisk", **ari_settings(ari, ari_password="wrong-password-x")) as kit:
        with pytest.raises(AuthenticationError) as caught:
            await kit.send("E", {}, to="app:ek")
        with pytest.raises(AuthenticationError):
            async for _ in kit.listen(via="websocket"):
                pass
    assert "wrong-password-x" not in str(caught.value) + repr(caught.value.to_dict())


async def test_malformed_frames_are_dropped_and_counted(ari: AriEmulator) -> None:
    async with eventkit.connect_async("asterisk", **ari_settings(ari)) as kit, Collector(kit, via="websocket") as ws:
        await kit.send("First", {}, to="app:ek")
        await ws.wait_for(1)
        await asyncio.to_thread(ari.send_raw, "ek", "{not json")
        await asyncio.to_thread(ari.send_raw, "ek", '{"type": "ChannelUserevent"}')
        await asyncio.to_thread(ari.send_raw, "ek", '{"type": "StasisStart"}')
        await kit.send("Second", {}, to="app:ek")
        events = await ws.wait_for(2)
        assert kit.stats["dropped_frames"] == 2
    assert [e.name for e in events] == ["First", "Second"]


async def test_websocket_reconnects_after_a_server_restart() -> None:
    server = AriEmulator({"asterisk": "pw-12345"})
    server.start()
    try:
        settings = {"ari_url": server.url, "ari_username": "asterisk", "ari_password": "pw-12345", "ari_app": "r"}
        async with eventkit.connect_async("asterisk", **settings, **FAST) as kit, Collector(kit, via="websocket") as ws:
            await kit.send("Before", {}, to="app:r")
            await ws.wait_for(1)
            await asyncio.to_thread(server.restart)
            await ws.wait_for_sessions(2)
            await kit.send("After", {}, to="app:r")
            events = await ws.wait_for(2)
            assert kit.stats["reconnects"] >= 1
        assert [e.name for e in events] == ["Before", "After"]
    finally:
        server.close()


async def test_listen_needs_an_app() -> None:
    async with eventkit.connect_async(
        "asterisk", ari_url="http://127.0.0.1:9", ari_username="u", ari_password="p"
    ) as kit:
        with pytest.raises(eventkit.ConfigurationError):
            async for _ in kit.listen(via="websocket"):
                pass
        with pytest.raises(eventkit.MissingCredentialsError):
            await kit.send("E", {}, to="ami")


async def test_missing_ari_credentials_for_an_app_target(ami: AmiEmulator) -> None:
    async with eventkit.connect_async("asterisk", port=ami.port, username="app", secret="s3cret-pw") as kit:
        with pytest.raises(eventkit.MissingCredentialsError):
            await kit.send("E", {}, to="app:x")
