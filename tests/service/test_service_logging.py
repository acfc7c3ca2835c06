"""The redacting filter, the throttle and the formats, on real loggers."""

from __future__ import annotations

import base64
import gc
import json
import logging
from urllib.parse import quote

import pytest

import eventkit
from eventkit import _logging
from eventkit._logging import JsonFormatter, Throttle, ThrottleFilter, known_secrets, redact

PASSWORD = "ari-password-0123456789-XYZ"


@pytest.fixture
def kit() -> eventkit.Client:
    return eventkit.connect(
        "asterisk", ari_url="http://127.0.0.1:9", ari_username="app", ari_password=PASSWORD, environ={}
    )


def test_third_party_loggers_never_show_a_connected_clients_secret(
    kit: eventkit.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"app:{PASSWORD}".encode()).decode()
    logging.getLogger("websockets.client").debug("> Authorization: Basic %s", basic)
    logging.getLogger("websockets.client").debug(
        "> GET /ari/events?app=a&api_key=%s HTTP/1.1", quote(f"app:{PASSWORD}")
    )
    logging.getLogger("httpx").info('HTTP Request: POST http://h/ari/events/user/x?api_key=app:%s "200"', PASSWORD)
    logging.getLogger("urllib3.connectionpool").debug("http://app:%s@h:80 GET /x", PASSWORD)
    logging.getLogger("websockets.client").debug('> TEXT \'{"token": "abc...%s"}\' [90 bytes]', PASSWORD[-19:])
    try:
        raise RuntimeError(f"failed for {PASSWORD}")
    except RuntimeError:
        logging.getLogger("aiohttp.client").exception("request failed")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) == 6
    for piece in (PASSWORD, basic, quote(f"app:{PASSWORD}"), PASSWORD[-19:], PASSWORD[-10:]):
        assert piece not in text, piece
    assert text.count("***") >= 6
    kit.close()


def test_the_filter_sits_on_every_logger_eventkit_drives(kit: eventkit.Client) -> None:
    # uvicorn.access does not propagate to the root logger: its own filter is what protects it.
    for name in ("uvicorn.access", "uvicorn.error", "websockets.client", "httpx", "httpcore.http11", "aiohttp.client"):
        assert any(isinstance(f, _logging.SecretFilter) for f in logging.getLogger(name).filters), name
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '"POST /x?token=%s" 200', (PASSWORD,), None)
    logging.getLogger("uvicorn.access").filter(record)
    assert PASSWORD not in record.getMessage() and "token=***" in record.getMessage()
    kit.close()


def test_credential_shapes_are_masked_without_knowing_the_secret() -> None:
    assert redact("GET http://u:s3cr3t@h/x?a=1&token=abc&b=2", []) == "GET http://u:***@h/x?a=1&token=***&b=2"
    assert redact("Authorization: Bearer eyJ.abc.def", []) == "Authorization: Bearer ***"
    assert redact("{'authorization': 'Basic Zm9vOmJhcg=='}", []) == "{'authorization': 'Basic ***'}"
    assert redact("nothing to see here", []) == "nothing to see here"


def test_the_registry_holds_secrets_weakly() -> None:
    secret = "weakly-held-secret-value-42"
    holder = _logging.register(secret)
    assert secret in known_secrets()
    del holder
    gc.collect()
    assert secret not in known_secrets()


def test_throttle_says_how_many_it_held_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    monkeypatch.setattr(_logging.time, "monotonic", lambda: now[0])
    throttle = Throttle(logging.getLogger("eventkit.test.throttle"), interval=60)
    caplog.set_level(logging.WARNING, logger="eventkit.test.throttle")
    assert throttle.warning("k", "refused %s", "a")
    assert not throttle.warning("k", "refused %s", "b")
    assert not throttle.warning("k", "refused %s", "c")
    assert throttle.warning("other", "other kind")
    now[0] += 61
    assert throttle.warning("k", "refused %s", "d")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["refused a", "other kind", "refused d (2 more like this in the last 60s not shown)"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_throttle_filter_tames_a_foreign_flood(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("eventkit.test.flood")
    flood = ThrottleFilter(["Exceeded concurrency limit"])
    logger.addFilter(flood)
    caplog.set_level(logging.WARNING, logger="eventkit.test.flood")
    try:
        for _ in range(100):
            logger.warning("Exceeded concurrency limit.")
        logger.warning("something else")
    finally:
        logger.removeFilter(flood)
    assert [r.getMessage() for r in caplog.records] == ["Exceeded concurrency limit.", "something else"]


def test_json_lines_carry_time_level_logger_message() -> None:
    record = logging.LogRecord("eventkit.x", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    payload = json.loads(JsonFormatter().format(record))
    assert payload["level"] == "WARNING" and payload["logger"] == "eventkit.x" and payload["message"] == "hello there"
    assert payload["time"].endswith("Z") and "T" in payload["time"]
