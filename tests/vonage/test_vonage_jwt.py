"""Application JWTs: RS256 with the application's key, the documented claims, reuse until near expiry."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from eventkit_vonage import TokenMinter, VonageSettings
from vonage_support import APPLICATION_ID, key_pair, private_pem, public_pem, settings

import eventkit
from eventkit import MissingCredentialsError, SettingsError


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _minter(clock: FakeClock | None = None, **extra: object) -> TokenMinter:
    cfg = VonageSettings(application_id=APPLICATION_ID, private_key=eventkit.Secret(private_pem()), **extra)  # type: ignore[arg-type]
    return TokenMinter(cfg, clock=clock or FakeClock())


def _claims(token: str, **options: object) -> dict[str, object]:
    return jwt.decode(token, public_pem(), algorithms=["RS256"], options={"verify_exp": False, **options})  # type: ignore[arg-type]


def test_token_is_rs256_with_documented_claims() -> None:
    clock = FakeClock()
    token = _minter(clock).token()
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT"}
    claims = _claims(token)
    assert claims["application_id"] == APPLICATION_ID
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 900
    assert isinstance(claims["jti"], str) and len(claims["jti"]) == 36
    assert "sub" not in claims and "acl" not in claims


def test_token_does_not_verify_with_another_key() -> None:
    token = _minter().token()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, key_pair("other")[2], algorithms=["RS256"], options={"verify_exp": False})


def test_sub_acl_and_ttl_are_applied() -> None:
    acl = {"paths": {"/*/conversations/**": {}}}
    token = _minter(sub="alice", acl='{"paths": {"/*/conversations/**": {}}}', token_ttl=60.0, token_refresh_margin=5.0)
    claims = _claims(token.token())
    assert claims["sub"] == "alice"
    assert claims["acl"] == acl
    assert int(claims["exp"]) - int(claims["iat"]) == 60  # type: ignore[call-overload]


def test_token_is_reused_until_the_refresh_margin() -> None:
    clock = FakeClock()
    minter = _minter(clock, token_ttl=900.0, token_refresh_margin=60.0)
    first = minter.token()
    clock.now += 839
    assert minter.token() == first
    assert minter.minted == 1
    clock.now += 1  # 840 s: within 60 s of expiry
    second = minter.token()
    assert second != first
    assert minter.minted == 2
    assert _claims(second)["jti"] != _claims(first)["jti"]


def test_pkcs1_key_and_key_file_are_accepted(tmp_path: Path) -> None:
    _pkcs8, pkcs1, _public = key_pair()
    minter = TokenMinter(VonageSettings(application_id=APPLICATION_ID, private_key=eventkit.Secret(pkcs1.decode())))
    assert _claims(minter.token())["application_id"] == APPLICATION_ID
    path = tmp_path / "private.key"
    path.write_bytes(pkcs1)
    from_file = TokenMinter(VonageSettings(application_id=APPLICATION_ID, private_key_path=str(path)))
    assert _claims(from_file.token())["application_id"] == APPLICATION_ID


def test_private_key_takes_a_file_path_as_the_vonage_sdk_does(tmp_path: Path) -> None:
    # The vonage SDK's Auth(private_key=...) accepts a path; its users' settings carry one.
    _pkcs8, pkcs1, _public = key_pair()
    path = tmp_path / "private.key"
    path.write_bytes(pkcs1)
    with eventkit.connect("vonage", application_id=APPLICATION_ID, private_key=str(path)) as kit:
        assert _claims(TokenMinter(kit.provider.settings).token())["application_id"] == APPLICATION_ID
    with pytest.raises(SettingsError, match="or the path of a readable key file") as caught:
        TokenMinter(
            VonageSettings(application_id=APPLICATION_ID, private_key=eventkit.Secret(str(tmp_path / "absent")))
        )
    assert "absent" not in str(caught.value)
    garbage = tmp_path / "garbage.key"
    garbage.write_text(_garbage_pem())
    with pytest.raises(SettingsError, match="unreadable"):
        eventkit.connect("vonage", application_id=APPLICATION_ID, private_key=str(garbage))


def test_escaped_newlines_from_environment_variables_are_accepted() -> None:
    flat = private_pem().strip().replace("\n", "\\n")
    with eventkit.connect(
        "vonage", environ={"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": flat}
    ) as kit:
        assert kit.provider.settings.application_id == APPLICATION_ID


def _garbage_pem() -> str:
    return "-----BEGIN PRIVATE KEY-----\nTUlJQ2VRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NBbU13Z2dKZkFn\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    "bad",
    [
        {"private_key": "not a pem at all, just a secret-looking string 123"},
        {"private_key": _garbage_pem()},
        {"private_key_path": "/nonexistent/dir/private.key"},
    ],
)
def test_unreadable_private_key_is_a_settings_error_naming_no_key_material(bad: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        eventkit.connect("vonage", application_id=APPLICATION_ID, **bad)
    text = str(caught.value) + repr(caught.value)
    assert "vonage" in text
    for value in bad.values():
        if "private_key" in bad:
            assert value.strip() not in text
    assert "TUlJQ2VR" not in text


def test_garbage_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(_garbage_pem())
    with pytest.raises(SettingsError, match="unreadable"):
        eventkit.connect("vonage", application_id=APPLICATION_ID, private_key_path=str(path))


def test_non_rsa_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(SettingsError, match="RSA"):
        eventkit.connect("vonage", application_id=APPLICATION_ID, private_key=pem)


def test_missing_credentials() -> None:
    with pytest.raises(MissingCredentialsError, match="private_key or private_key_path"):
        eventkit.connect("vonage", application_id=APPLICATION_ID, environ={})
    with pytest.raises(MissingCredentialsError, match="application_id"):
        eventkit.connect("vonage", private_key=private_pem(), environ={})


@pytest.mark.parametrize(
    "bad",
    [
        {"token_ttl": 0},
        {"token_ttl": 0.5, "token_refresh_margin": 0},
        {"token_ttl": 90_000},
        {"token_ttl": 60, "token_refresh_margin": 60},
        {"acl": "[1, 2]"},
        {"acl": "{not json"},
        {"region": "mars-1"},
        {"region": "eu-3", "base_url": "https://example.test"},
        {"private_key_path": "/x.pem"},
    ],
)
def test_bad_settings_are_refused_at_connect(bad: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        eventkit.connect("vonage", **settings(**bad))


def test_key_is_parsed_once_per_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import eventkit_vonage._jwt as module

    calls = []
    original = module.load_private_key

    def counting(cfg: VonageSettings) -> object:
        calls.append(cfg)
        return original(cfg)

    monkeypatch.setattr(module, "load_private_key", counting)
    with eventkit.connect("vonage", **settings()) as kit:
        kit.provider.codec()
        kit.validate("x", {}, to="conversation:CON-1")
    assert len(calls) == 1


def test_signing_is_not_done_per_request() -> None:
    start = time.perf_counter()
    minter = _minter(FakeClock())
    tokens = {minter.token() for _ in range(200)}
    assert len(tokens) == 1 and minter.minted == 1
    assert time.perf_counter() - start < 2


def test_key_material_never_shows_in_reprs() -> None:
    pem = private_pem()
    with eventkit.connect("vonage", **settings()) as kit:
        shown = " ".join(repr(x) for x in (kit, kit.provider, kit.provider.settings, kit.codec, kit.provider.tokens()))
        shown += repr(kit.provider.webhook_codec()) + str(kit.provider.capabilities.to_dict())
    for line in pem.strip().splitlines()[1:-1]:
        assert line not in shown
    assert "test-only-signature-secret" not in shown
