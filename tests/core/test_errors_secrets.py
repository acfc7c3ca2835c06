from __future__ import annotations

import logging
import pickle

import pytest

from eventkit import (
    AuthenticationError,
    EventkitError,
    GoneError,
    PayloadTooLargeError,
    RateLimitedError,
    Secret,
    UnavailableError,
    ValidationError,
)
from eventkit.provider import Redactor, error_for_status, from_status


def test_secret_never_shows_itself(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("hunter2-very-secret")
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "{}".format(secret)):  # noqa: UP032
        assert "hunter2" not in shown
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").debug("value %s %r", secret, secret)
    assert "hunter2" not in caplog.text
    assert secret.reveal() == "hunter2-very-secret"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_secret_equality() -> None:
    assert Secret("abc") == Secret("abc") and Secret("abc") != Secret("abd")
    assert Secret(Secret("x")).reveal() == "x"
    with pytest.raises(TypeError):
        Secret(3)  # type: ignore[arg-type]


def test_redactor_masks_values_and_sensitive_keys() -> None:
    r = Redactor([Secret("s3cr3t-value"), "tok-123456", None, "ab"])
    assert r.text("bad token tok-123456 and s3cr3t-value") == "bad token *** and ***"
    body = {"message": "got s3cr3t-value", "authorization": "Bearer zzz", "nested": [{"api_secret": "q"}], "ab": "ab"}
    assert r.value(body) == {
        "message": "got ***",
        "authorization": "***",
        "nested": [{"api_secret": "***"}],
        "ab": "ab",
    }


@pytest.mark.parametrize(
    "status, cls, retryable",
    [
        (400, ValidationError, False),
        (401, AuthenticationError, False),
        (410, GoneError, False),
        (413, PayloadTooLargeError, False),
        (429, RateLimitedError, True),
        (500, UnavailableError, True),
        (503, UnavailableError, True),
        (501, UnavailableError, False),
        (418, EventkitError, False),
    ],
)
def test_status_mapping(status: int, cls: type, retryable: bool) -> None:
    error = from_status(status, "boom", provider="p", code="C1", body={"x": 1}, retry_after=2.0)
    assert type(error) is cls or (status == 501 and isinstance(error, cls))
    assert error_for_status(status) is type(error)
    assert error.retryable is retryable
    assert error.status == status and error.code == "C1" and error.provider == "p" and error.retry_after == 2.0
    assert "status" in str(error) and "p" in str(error)
    assert error.to_dict()["type"] == type(error).__name__


def test_validation_error_lists_violations() -> None:
    from eventkit import Violation

    error = ValidationError(violations=[Violation("name", "pattern", "bad"), Violation("data", "max_bytes", "big")])
    assert str(error) == "name: bad; data: big"
