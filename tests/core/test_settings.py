from __future__ import annotations

import attrs
import pytest

from eventkit import MissingCredentialsError, Secret, SettingsError, connect
from eventkit._settings import describe, resolve, settings_from_url
from eventkit.provider import mask_url, setting


@attrs.frozen
class DemoSettings:
    api_key: str | None = setting(required=True, env=("DEMO_KEY",), url="username")
    api_secret: Secret | None = setting(required=True, secret=True, url="password")
    base_url: str = setting("https://api.demo.example")
    retries: int = setting(3)
    ratio: float = setting(0.5)
    flag: bool = setting(False)
    channels: tuple[str, ...] = setting(())


def test_precedence_kwargs_url_env() -> None:
    env = {"EVENTKIT_DEMO_API_KEY": "from-env", "DEMO_KEY": "vendor-env", "EVENTKIT_DEMO_RETRIES": "7"}
    s = resolve(DemoSettings, "demo", kwargs={"api_key": "kw"}, from_url={"api_key": "url"}, environ=env)
    assert s.api_key == "kw" and s.retries == 7
    s = resolve(DemoSettings, "demo", kwargs={}, from_url={"api_key": "url"}, environ=env)
    assert s.api_key == "url"
    s = resolve(DemoSettings, "demo", kwargs={}, environ=env)
    assert s.api_key == "from-env"
    s = resolve(DemoSettings, "demo", kwargs={}, environ={"DEMO_KEY": "vendor-env"})
    assert s.api_key == "vendor-env"


def test_conversion_from_strings() -> None:
    s = resolve(
        DemoSettings,
        "demo",
        kwargs={"flag": "yes", "ratio": "0.25", "channels": "a:b, c:d", "api_secret": "shh"},
        environ={},
    )
    assert s.flag is True and s.ratio == 0.25 and s.channels == ("a:b", "c:d")
    assert isinstance(s.api_secret, Secret) and "shh" not in repr(s)


@pytest.mark.parametrize("kwargs", [{"retries": "many"}, {"flag": "perhaps"}, {"ratio": "x"}])
def test_bad_values(kwargs: dict) -> None:
    with pytest.raises(SettingsError, match=next(iter(kwargs))):
        resolve(DemoSettings, "demo", kwargs=kwargs, environ={})


def test_unknown_setting_names_the_known_ones() -> None:
    with pytest.raises(SettingsError) as caught:
        resolve(DemoSettings, "demo", kwargs={"api_kee": "x"}, environ={})
    assert "'api_kee'" in str(caught.value) and "api_key" in str(caught.value)


def test_url_mapping() -> None:
    out = settings_from_url(DemoSettings, "demo+http://key:s%40cret@127.0.0.1:8080/v1?retries=2")
    assert out == {"api_key": "key", "api_secret": "s@cret", "base_url": "http://127.0.0.1:8080/v1", "retries": "2"}
    assert settings_from_url(DemoSettings, "demo://k@[::1]:9")["base_url"] == "https://[::1]:9"


def test_mask_url() -> None:
    assert mask_url("ami://app:secret@127.0.0.1:5038") == "ami://app:***@127.0.0.1:5038"
    assert mask_url("x://h/p?api_key=abc&app=y") == "x://h/p?api_key=***&app=y"
    assert "secret" not in mask_url("x://u:secret@h")


def test_describe_hides_secret_defaults() -> None:
    rows = {r["name"]: r for r in describe(DemoSettings, "demo")}
    assert rows["api_secret"]["secret"] and rows["api_secret"]["default"] is None
    assert rows["api_key"]["env"] == ["EVENTKIT_DEMO_API_KEY", "DEMO_KEY"]


def test_transport_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="max_attempts"):
        connect("memory", max_attempts=0, environ={})
    with pytest.raises(SettingsError, match="timeout"):
        connect("memory", timeout="soon", environ={})


def test_memory_url_and_env() -> None:
    kit = connect("memory://?namespace=url-ns", environ={})
    assert kit.provider.settings.namespace == "url-ns"
    kit = connect("memory", environ={"EVENTKIT_MEMORY_NAMESPACE": "env-ns", "EVENTKIT_MEMORY_TIMEOUT": "3"})
    assert kit.provider.settings.namespace == "env-ns" and kit.transport.timeout == 3.0


def test_missing_credentials_raise_before_io() -> None:
    from eventkit import Capabilities, TargetForm
    from eventkit.provider import Provider

    class Demo(Provider):
        name = "demo"
        Settings = DemoSettings
        capabilities = Capabilities(targets=(TargetForm("topic", "topic:<name>"),), listen=())

        def codec(self):  # type: ignore[no-untyped-def]
            raise AssertionError("no codec is built before credentials are checked")

    with pytest.raises(MissingCredentialsError) as caught:
        connect(Demo, environ={})
    assert "api_key (or EVENTKIT_DEMO_API_KEY)" in str(caught.value)
    assert "api_secret" in str(caught.value)
    with pytest.raises(MissingCredentialsError, match="api_secret"):
        connect(Demo, api_key="k", environ={})
