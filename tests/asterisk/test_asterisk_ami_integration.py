"""The real provider over real TCP against the AMI emulator on loopback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from asterisk_support import FAST, Collector, ami_settings
from eventkit_asterisk._ami import AmiConnection
from eventkit_asterisk._settings import AsteriskSettings
from eventkit_asterisk.testing.emulator import AmiEmulator

import eventkit
from eventkit import AuthenticationError, PermissionDeniedError, ProtocolError, UnavailableError, ValidationError
from eventkit._stats import Counters
from eventkit.provider import TransportSettings
from eventkit.testing import TcpServer


async def test_send_and_listen_round_trip(ami: AmiEmulator) -> None:
    data: dict[str, Any] = {"OrderId": "ORD-1", "Note": "a:b c", "Spaces": " x  y ", "Empty": ""}
    data.update({"Amount": 49.99, "Flag": True, "Nothing": None, "Nested": {"a": [1, "two"]}})
    data["Tricky"] = "ekjson:not json"
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit, Collector(kit, via="tcp") as listener:
        result = await kit.send("OrderReady", data, to="ami")
        (event,) = await listener.wait_for(1)
    assert result.ok and result.receipt is not None
    assert result.receipt.details["message"] == "Event Sent"
    assert event.name == "OrderReady"
    assert event.data == data
    assert event.source == "ami"
    assert event.provider == "asterisk"
    assert event.meta["ActionID"] == result.id  # Asterisk echoes the sender's ActionID into the event
    assert event.meta["Privilege"] == "user,all"


async def test_many_actions_in_flight_on_one_connection(ami: AmiEmulator) -> None:
    before = ami.logins
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit:
        events = [eventkit.Event(f"Bulk{i}", {"n": str(i)}, target="ami") for i in range(200)]
        results = await kit.send_many(events, concurrency=50)
    assert all(r.ok for r in results)
    assert len({r.id for r in results}) == 200
    assert ami.logins - before == 1


async def test_echoed_action_id_is_an_event_not_a_response(ami: AmiEmulator) -> None:
    """A session with events on sends the action: the echo carrying its ActionID still arrives as an event."""
    frames: list[Any] = []
    settings = AsteriskSettings(port=ami.port, username="app", secret=eventkit.Secret("s3cret-pw"))
    conn = AmiConnection(settings, TransportSettings(timeout=3), Counters(), events="user", on_event=frames.append)
    await conn.open()
    try:
        answer = await conn.action([("Action", "UserEvent"), ("ActionID", "42"), ("UserEvent", "Echo")])
        for _ in range(200):
            if frames:
                break
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    assert answer.get("Message") == "Event Sent"
    assert frames and frames[0].get("ActionID") == "42" and frames[0].get("UserEvent") == "Echo"


async def test_md5_login(ami: AmiEmulator) -> None:
    async with (
        eventkit.connect_async("asterisk", **ami_settings(ami, auth="md5")) as kit,
        Collector(kit, via="tcp") as listener,
    ):
        await kit.send("Md5", {"k": "v"}, to="ami")
        (event,) = await listener.wait_for(1)
    assert event.name == "Md5"


async def test_url_form_and_secret_hidden(ami: AmiEmulator) -> None:
    url = f"ami://app:s3cret-pw@127.0.0.1:{ami.port}"
    async with eventkit.connect_async(url, **FAST) as kit:
        assert "s3cret-pw" not in repr(kit) + repr(kit.provider) + kit.url
        result = await kit.send("ViaUrl", {}, to="ami")
    assert result.ok


async def test_wrong_secret_is_an_authentication_error_without_the_secret(
    ami: AmiEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with eventkit.connect_async("asterisk", **ami_settings(ami, secret="wrong-secret-value")) as kit:
        with pytest.raises(AuthenticationError) as caught:
            await kit.send("X", {}, to="ami")
        with pytest.raises(AuthenticationError):
            async for _ in kit.listen(via="tcp"):
                pass
    assert caught.value.code == "Authentication failed"
    assert not caught.value.retryable
    shown = str(caught.value) + repr(caught.value) + repr(caught.value.to_dict()) + caplog.text
    assert "wrong-secret-value" not in shown


async def test_user_without_write_permission(ami: AmiEmulator) -> None:
    settings = ami_settings(ami, username="reader", secret="reader-pw")
    async with eventkit.connect_async("asterisk", **settings) as kit:
        with pytest.raises(PermissionDeniedError) as caught:
            await kit.send("X", {}, to="ami")
    assert caught.value.status == 403 and caught.value.code == "Permission denied"


async def test_dropped_connection_is_retried_on_a_new_session(ami: AmiEmulator) -> None:
    async with eventkit.connect_async("asterisk", **ami_settings(ami, max_attempts=2)) as kit:
        await kit.send("Warmup", {}, to="ami")
        ami.drop_next()
        result = await kit.send("AfterDrop", {}, to="ami")
    assert result.ok and result.attempts == 2
    assert result.possible_duplicate  # the lost action may have been run: at-least-once


async def test_dropped_connection_without_retries_is_unavailable(ami: AmiEmulator) -> None:
    async with eventkit.connect_async("asterisk", **ami_settings(ami, max_attempts=1)) as kit:
        ami.drop_next()
        (result,) = await kit.send_many([eventkit.Event("Dropped", {}, target="ami")])
    assert isinstance(result.error, UnavailableError) and result.error.maybe_delivered


async def test_invalid_events_never_reach_the_server(ami: AmiEmulator) -> None:
    cases: list[dict[str, Any]] = [
        {"K": "a\r\nAction: Logoff"},
        {"K": "line\nbreak"},
        {"Bad:Name": "v"},
        {"Bad\r\nName": "v"},
        {" padded": "v"},
        {"ActionID": "1"},
        {"Event": "x"},
        {"k": "v", "K": "w"},
        {f"k{i}": "v" for i in range(126)},
        {"long": "x" * 1100},
    ]
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit:
        before = ami.user_events_received()
        for data in cases:
            with pytest.raises(ValidationError) as caught:
                await kit.send("Bad", data, to="ami")
            assert caught.value.violations, data
        with pytest.raises(ValidationError):
            await kit.send("Bad\r\nAction: Logoff", {}, to="ami")
        assert ami.user_events_received() == before


async def test_limits_at_the_edge_are_accepted(ami: AmiEmulator) -> None:
    value = "x" * (1022 - len("edge: "))
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit, Collector(kit, via="tcp") as listener:
        await kit.send("Edge", {"edge": value}, to="ami")
        await kit.send("Many", {f"k{i}": str(i) for i in range(125)}, to="ami")
        events = await listener.wait_for(2)
    assert events[0].data == {"edge": value}
    assert len(events[1].data) == 125


async def test_server_restart_mid_listen_keeps_events_before_and_after() -> None:
    server = AmiEmulator(auth_fail_delay=0.01)
    server.start()
    try:
        settings = {"port": server.port, "username": "app", "secret": "s3cret", **FAST}
        async with eventkit.connect_async("asterisk", **settings) as kit, Collector(kit, via="tcp") as listener:
            await kit.send("Before", {}, to="ami")
            await listener.wait_for(1)
            await asyncio.to_thread(server.restart)
            await listener.wait_for_sessions(2)
            await kit.send("After", {}, to="ami")
            events = await listener.wait_for(2)
            assert [e.name for e in events] == ["Before", "After"]
            assert kit.stats["reconnects"] >= 1
    finally:
        server.close()


async def test_malformed_frames_are_counted_and_neighbours_kept(ami: AmiEmulator) -> None:
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit, Collector(kit, via="tcp") as listener:
        await asyncio.to_thread(
            ami.broadcast_raw,
            b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: One\r\n\r\n"
            b"garbage without a colon\r\n\r\n"
            b"Event: UserEvent\nUserEvent: Two\nK: v\n\n",
        )
        events = await listener.wait_for(2)
        assert kit.stats["dropped_frames"] >= 1
    assert [e.name for e in events] == ["One", "Two"]
    assert events[1].data == {"K": "v"}


async def test_other_events_are_ignored_and_names_filter(ami: AmiEmulator) -> None:
    async with (
        eventkit.connect_async("asterisk", **ami_settings(ami)) as kit,
        Collector(kit, via="tcp", names={"Wanted"}) as listener,
    ):
        await asyncio.to_thread(ami.emit_event, [("Event", "Newchannel"), ("Channel", "PJSIP/1")], "call")
        await kit.send("Unwanted", {}, to="ami")
        await kit.send("Wanted", {}, to="ami")
        events = await listener.wait_for(1)
        await asyncio.sleep(0.05)
    assert [e.name for e in events] == ["Wanted"]


async def test_ping_keep_alive_is_sent(ami: AmiEmulator) -> None:
    before = sum(1 for name, _ in ami.actions if name == "Ping")
    async with (
        eventkit.connect_async("asterisk", **ami_settings(ami, ping_interval=0.05)) as kit,
        Collector(kit, via="tcp"),
    ):
        await asyncio.sleep(0.3)
    assert sum(1 for name, _ in ami.actions if name == "Ping") - before >= 2


async def test_not_an_ami_server_is_a_protocol_error() -> None:
    async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await reader.read(100)

    server = TcpServer(http_like)
    server.start()
    try:
        async with eventkit.connect_async("asterisk", port=server.port, username="u", secret="s3cret", **FAST) as kit:
            with pytest.raises(ProtocolError):
                await kit.send("X", {}, to="ami")
    finally:
        server.close()


def test_sync_client_sends(ami: AmiEmulator) -> None:
    with eventkit.connect("asterisk", **ami_settings(ami)) as kit:
        before = ami.user_events_received()
        assert kit.send("Sync", {"a": "b"}, to="ami").ok
        assert ami.user_events_received() == before + 1


async def test_missing_ami_credentials_for_an_ami_target() -> None:
    async with eventkit.connect_async(
        "asterisk", ari_url="http://127.0.0.1:9", ari_username="u", ari_password="p"
    ) as kit:
        with pytest.raises(eventkit.MissingCredentialsError):
            await kit.send("X", {}, to="ami")
        with pytest.raises(eventkit.MissingCredentialsError):
            async for _ in kit.listen(via="tcp"):
                pass


def test_connect_needs_one_set_of_credentials() -> None:
    with pytest.raises(eventkit.MissingCredentialsError):
        eventkit.connect("asterisk", environ={})
