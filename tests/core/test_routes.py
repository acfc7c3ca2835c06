"""Routes: ``@name`` resolved per provider from settings, the environment or eventkit.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

import eventkit
from eventkit import SettingsError, TargetError
from eventkit._routes import parse_routes

ORDERS = "topic:orders"


def test_routes_parse_from_a_mapping_json_text_or_pairs() -> None:
    assert parse_routes({"orders": ORDERS}, "memory") == {"orders": ORDERS}
    assert parse_routes('{"@orders": "topic:orders"}', "memory") == {"orders": ORDERS}
    assert parse_routes("orders=topic:orders, alerts=ami", "memory") == {"orders": ORDERS, "alerts": "ami"}
    assert parse_routes(None, "memory") == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"bad name": ORDERS}, "route name 'bad name'"),
        ({"orders": "@other"}, "maps to another route"),
        ({"orders": "Not A Target"}, "route 'orders'"),
        ({"orders": 3}, "must map to a target string"),
        ("orders", "has no '='"),
        ("{not json", "not a JSON object"),
        (["orders"], "must be a mapping"),
    ],
)
def test_bad_routes_fail_at_connect(value: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        eventkit.connect("memory", routes=value)


def test_send_to_a_route_reaches_the_provider_target() -> None:
    with eventkit.connect("memory", routes={"orders": ORDERS}) as kit:
        result = kit.send("order_ready", {"id": 1}, to="@orders")
        assert result.target == ORDERS
        assert kit.validate("order_ready", {"id": 1}, to="@orders") == []


def test_an_unknown_route_is_a_target_error_naming_the_known_ones_before_any_io() -> None:
    with eventkit.connect("memory", routes={"orders": ORDERS}) as kit:
        with pytest.raises(TargetError, match=r"no route '@refunds' \(routes: @orders\)"):
            kit.send("order_ready", {"id": 1}, to="@refunds")
        assert kit.stats["sent"] == 0


def test_a_route_is_never_confused_with_a_target_kind() -> None:
    # "ami" is a target; "@ami" is a route, and only a configured one resolves.
    with eventkit.connect("memory", routes={"ami": ORDERS}) as kit:
        assert kit.send("x", {}, to="@ami").target == ORDERS
        assert kit.send("x", {}, to="ami").target == "ami"


def test_routes_from_the_environment() -> None:
    with eventkit.connect("memory", environ={"EVENTKIT_MEMORY_ROUTES": "orders=topic:orders"}) as kit:
        assert kit.routes == {"orders": ORDERS}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eventkit.toml"
    path.write_text(text)
    return path


def test_config_file_gives_settings_routes_and_secrets_from_the_environment(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        """
[stream]
api_key = "key-from-file"
api_secret = "${STREAM_SECRET_FOR_TEST}"
timeout = 2.5

[stream.routes]
orders = "channel:messaging:orders"
""",
    )
    environ = {"STREAM_SECRET_FOR_TEST": "s3cret-value", "EVENTKIT_CONFIG": str(path)}
    with eventkit.connect("stream", environ=environ) as kit:
        assert kit.provider.settings.api_key == "key-from-file"
        assert kit.provider.settings.api_secret.reveal() == "s3cret-value"
        assert kit.transport.timeout == 2.5
        assert kit.routes == {"orders": "channel:messaging:orders"}
        assert "s3cret-value" not in repr(kit) + repr(kit.provider)
    # Keyword arguments and EVENTKIT_<PROVIDER>_<SETTING> beat the file.
    with eventkit.connect(
        "stream", config=path, environ={**environ, "EVENTKIT_STREAM_API_KEY": "key-from-env"}, routes={}
    ) as kit:
        assert kit.provider.settings.api_key == "key-from-env"
        assert kit.routes == {}


def test_a_literal_secret_in_the_config_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = _config(tmp_path, '[stream]\napi_key = "k"\napi_secret = "literal-secret-123"\n')
    with pytest.raises(SettingsError, match="api_secret is a secret") as caught:
        eventkit.connect("stream", config=path, environ={})
    assert "literal-secret-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[stream]\napi_key = "k"\napi_secret = "${NOT_SET_ANYWHERE}"\n', "NOT_SET_ANYWHERE"),
        ("[stream\n", "not valid TOML"),
        ("stream = 3\n", "must be a table"),
        ('[stream]\napi_kee = "k"\n', "unknown setting 'api_kee'"),
    ],
)
def test_config_file_mistakes_are_settings_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        eventkit.connect("stream", config=_config(tmp_path, text), environ={})


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read config file"):
        eventkit.connect("memory", config=tmp_path / "absent.toml", environ={})


def test_check_without_a_target_asks_every_kind_and_reports_changes() -> None:
    report = eventkit.check("OrderReady", {"OrderId": "1", "Amount": 49.99}, providers=["asterisk", "vonage"])
    verdicts = {v.provider: v for v in report.verdicts}
    assert report.target is None
    assert verdicts["asterisk"].accepted_kinds == ("ami", "app")
    assert verdicts["asterisk"].changes == ("Amount: float 49.99 travels as the string '49.99' (flat-string payload)",)
    assert verdicts["vonage"].accepted_kinds == ("conversation",)
    assert verdicts["vonage"].changes == ()


def test_check_reports_what_no_target_can_fix() -> None:
    report = eventkit.check("order_ready", {"type": "x"}, providers=["stream", "signalwire"])
    assert report.accepted_by == []
    for verdict in report.verdicts:
        assert [v.field for v in verdict.violations] == ["data.type"], verdict


def test_check_resolves_a_route_per_provider() -> None:
    report = eventkit.check(
        "order_ready",
        {"id": 1},
        to="@orders",
        sender="bot",
        providers=["stream", "vonage"],
        routes={"stream": {"orders": "channel:messaging:orders"}},
        environ={},
    )
    verdicts = {v.provider: v for v in report.verdicts}
    assert verdicts["stream"].accepted and verdicts["stream"].target == "channel:messaging:orders"
    assert not verdicts["vonage"].accepted
    assert "no route '@orders'" in str(verdicts["vonage"].violations[0])
