"""Settings: keyword arguments, a URL, or the environment, resolved once at connect time.

Each provider declares an attrs class whose fields are made with :func:`setting`;
the core resolves, converts and checks them so every provider gets the same
rules: kwargs beat the URL, the URL beats ``EVENTKIT_<PROVIDER>_<SETTING>``,
which beats the vendor's own variable names. Unknown names and bad values are
:class:`SettingsError` before any I/O; values of secret settings never appear in
an error.
"""

from __future__ import annotations

import difflib
import math
import os
import ssl
import types
import typing
from typing import Any, Mapping, Sequence, Union
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

import attrs

from ._errors import SettingsError
from ._secrets import _SENSITIVE_KEY, MASK, Secret

_META = "eventkit"


@attrs.frozen
class SettingInfo:
    secret: bool = False
    required: bool = False
    env: tuple[str, ...] = ()
    help: str = ""
    url: str | None = None
    """Which URL part fills this setting: ``username``, ``password``, ``host``, ``port`` or ``path``."""


def setting(
    default: Any = None,
    *,
    secret: bool = False,
    required: bool = False,
    env: Sequence[str] = (),
    help: str = "",
    url: str | None = None,
    factory: Any = None,
    converter: Any = None,
) -> Any:
    """Declare one provider setting (an ``attrs.field`` with eventkit's metadata)."""
    info = SettingInfo(secret=secret, required=required, env=tuple(env), help=help, url=url)
    if factory is not None:
        return attrs.field(factory=factory, converter=converter, metadata={_META: info})
    return attrs.field(default=default, converter=converter, metadata={_META: info})


def info_of(field: attrs.Attribute) -> SettingInfo:  # type: ignore[type-arg]
    info = field.metadata.get(_META)
    return info if isinstance(info, SettingInfo) else SettingInfo()


def _verify(value: Any) -> bool | str | ssl.SSLContext:
    """``verify`` as an engine takes it: on/off, a CA bundle path (file or directory) that exists, or a context."""
    if isinstance(value, (bool, ssl.SSLContext)):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str) and value:
        if not os.path.exists(value):
            raise SettingsError(f"setting 'verify': no CA bundle file or directory at {value!r}")
        return value
    raise SettingsError(
        f"setting 'verify' must be true, false, a CA bundle path or an ssl.SSLContext, not {type(value).__name__}"
    )


@attrs.frozen
class Policy:
    """How a connection sends: timeouts, retries and backoff, rate, concurrency, TLS, HTTP engine
    and injection points. Every connected provider has one (``kit.transport``), made from the
    ``connect`` keywords that name its fields; :class:`~eventkit.provider.RetryLoop` and the
    HTTP engines read it.
    """

    timeout: float = setting(10.0, help="seconds one attempt may take, connect to complete answer, on every engine")
    connect_timeout: float | None = setting(help="seconds to wait for a connection (default: timeout)")
    deadline: float | None = setting(
        help="seconds a whole send may take, retries and their waits included (none by default)"
    )
    max_attempts: int = setting(3, help="attempts per event, first included")
    backoff_initial: float = setting(0.25, help="first retry delay in seconds, doubled each retry, with jitter")
    backoff_max: float = setting(10.0, help="longest computed retry delay in seconds")
    retry_after_max: float = setting(60.0, help="longest Retry-After/reset wait honoured before giving up")
    retry_ambiguous: bool = setting(
        True,
        help="retry when a request may have reached the platform (read timeout, reset): at-least-once",
    )
    concurrency: int = setting(16, help="events in flight at once in send_many")
    rate_limit: float | None = setting(help="client-side ceiling in requests per second (none by default)")
    verify: Union[bool, str, ssl.SSLContext] = setting(
        True,
        converter=_verify,
        help="TLS: true (system CAs), false (no checks), a CA bundle file or directory, or an ssl.SSLContext",
    )
    http_client: Any = setting(help="an httpx.Client to use instead of eventkit's own (sync)")
    async_http_client: Any = setting(help="an httpx.AsyncClient to use instead of eventkit's own")
    http_transport: Any = setting(help="an httpx transport (e.g. httpx.MockTransport) for eventkit's clients")
    telemetry: Any = setting(
        False,
        help="OpenTelemetry spans and metrics for sends (needs the otel extra): true, or an eventkit Telemetry",
    )
    http_engine: str = setting(
        "auto",
        help="HTTP engine: auto (stdlib sync, aiohttp async when installed, httpx when injected), httpx, stdlib, aiohttp",
    )
    # Listening as a service.
    shutdown_timeout: float = setting(
        10.0, help="seconds a stopping listener gives requests in flight to finish (webhook server drain)"
    )
    max_outage: float | None = setting(
        help="seconds a listener may fail to connect before it gives up with an error (default: retry forever)"
    )

    def __attrs_post_init__(self) -> None:
        problems = []
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                problem = _numeric_problem(field.name, value)
                if problem:
                    raise SettingsError(problem)
        if self.timeout <= 0:
            problems.append("timeout must be > 0")
        if self.connect_timeout is not None and self.connect_timeout <= 0:
            problems.append("connect_timeout must be > 0")
        if self.deadline is not None and self.deadline <= 0:
            problems.append("deadline must be > 0")
        if self.max_attempts < 1:
            problems.append("max_attempts must be >= 1")
        if self.concurrency < 1:
            problems.append("concurrency must be >= 1")
        if self.backoff_initial < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            problems.append("backoff and retry_after_max must be >= 0")
        if self.http_engine not in ("auto", "httpx", "stdlib", "aiohttp"):
            problems.append("http_engine must be auto, httpx, stdlib or aiohttp")
        if self.rate_limit is not None and self.rate_limit <= 0:
            problems.append("rate_limit must be > 0")
        if not 0 < self.shutdown_timeout < float("inf"):  # also refuses NaN
            problems.append("shutdown_timeout must be a positive number of seconds")
        if self.max_outage is not None and not 0 < self.max_outage < float("inf"):
            problems.append("max_outage must be a positive number of seconds")
        if problems:
            raise SettingsError("; ".join(problems))


TransportSettings = Policy
"""The old name of :class:`Policy` (deprecated; removed in 0.2)."""

TRANSPORT_FIELDS = frozenset(f.name for f in attrs.fields(Policy))


# Conversion from the strings that URLs, environment variables and --set give.


def _convert(value: Any, tp: Any, name: str, secret: bool) -> Any:
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if isinstance(value, str) and value == "" and len(args) < len(typing.get_args(tp)):
            return None
        last: SettingsError | None = None
        for arg in args:
            try:
                return _convert(value, arg, name, secret)
            except SettingsError as exc:
                last = exc
        assert last is not None
        raise last
    if tp is Secret:
        if isinstance(value, (str, Secret)):
            return Secret(value)
        raise SettingsError(f"setting {name!r} must be a string")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"setting {name!r} must be true or false, not {_show(value, secret)}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise SettingsError(f"setting {name!r} must be a number")
        if isinstance(value, (int, float)) and (tp is float or isinstance(value, int)):
            number = tp(value)
        else:
            try:
                number = tp(str(value).strip())
            except ValueError:
                raise SettingsError(
                    f"setting {name!r} must be {'an integer' if tp is int else 'a number'}, not {_show(value, secret)}"
                ) from None
        problem = _numeric_problem(name, number, value, secret)
        if problem:
            raise SettingsError(problem)
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise SettingsError(f"setting {name!r} must be a string, not {type(value).__name__}")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        try:
            (item_type, *_rest) = typing.get_args(tp) or (str,)
            return tuple(
                _convert(i.strip() if isinstance(i, str) else i, item_type, name, secret) for i in items if i != ""
            )
        except TypeError:
            raise SettingsError(f"setting {name!r} must be a list") from None
    return value


def _numeric_problem(name: str, number: float, raw: Any = None, secret: bool = False) -> str | None:
    """Why a numeric setting is refused: every one is a count, a size or seconds, so NaN, inf and < 0 are errors.

    NaN compares false with everything, so a NaN timeout or ``retry_after_max``
    would silently disable the checks made with it (a ``Retry-After: 1e9`` let through).
    """
    if math.isnan(number) or math.isinf(number) or number < 0:
        shown = _show(number if raw is None else raw, secret)
        return f"setting {name!r} must be a finite number >= 0, not {shown}"
    return None


def _show(value: Any, secret: bool) -> str:
    return MASK if secret else repr(value)


def env_name(provider: str, setting_name: str) -> str:
    return f"EVENTKIT_{provider.upper().replace('-', '_')}_{setting_name.upper()}"


def resolve(
    cls: type[Any],
    provider: str,
    *,
    kwargs: Mapping[str, Any],
    from_url: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    from_config: Mapping[str, Any] | None = None,
) -> Any:
    """An instance of the settings class ``cls`` from the four sources (the config file last)."""
    environ = os.environ if environ is None else environ
    from_url = from_url or {}
    from_config = from_config or {}
    fields = {f.name: f for f in attrs.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted({*kwargs, *from_url, *from_config} - set(fields))
    if unknown:
        known = sorted(set(fields) | TRANSPORT_FIELDS)
        raise SettingsError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for {provider}{_suggestions(unknown, known)} (known: {', '.join(known)})",
            provider=provider,
        )
    values: dict[str, Any] = {}
    for name, field in fields.items():
        info = info_of(field)
        if name in kwargs:
            raw = kwargs[name]
        elif name in from_url:
            raw = from_url[name]
        else:
            raw = _from_env(environ, provider, name, info.env)
            if raw is None:
                if name not in from_config:
                    continue
                raw = from_config[name]
        values[name] = _convert(raw, hints.get(name, Any), name, info.secret)
    try:
        return cls(**values)
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"bad settings for {provider}: {exc}", provider=provider) from None


def _suggestions(unknown: Sequence[str], known: Sequence[str]) -> str:
    """``; did you mean 'api_secret'?`` for the names that look like a known one (a typo), else nothing.

    Names, not values, are compared and shown: a setting's name is never a secret.
    """
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if close:
            hints.append((name, close[0]))
    if not hints:
        return ""
    if len(unknown) == 1:
        return f"; did you mean {hints[0][1]!r}?"
    return "; did you mean " + ", ".join(f"{right!r} for {wrong!r}" for wrong, right in hints) + "?"


def credentials_hint(cls: type[Any], provider: str, missing: Sequence[str]) -> str:
    """What to set for each missing credential: the setting and every environment variable that fills it.

    ``api_key (or EVENTKIT_STREAM_API_KEY); the vendor's variables work too: STREAM_API_KEY for api_key``.
    A provider may report alternatives as one item (``"private_key or private_key_path"``);
    each alternative that is a declared setting contributes its ``EVENTKIT_*`` name and the
    vendor's own names (``setting(env=...)``), in the order :func:`resolve` reads them.
    """
    fields = {f.name: info_of(f) for f in attrs.fields(cls)}
    items: list[str] = []
    vendor: list[str] = []
    for item in missing:
        ours: list[str] = []
        for alternative in (a.strip() for a in item.split(" or ")):
            if alternative not in fields:
                continue
            ours.append(env_name(provider, alternative))
            if fields[alternative].env:
                vendor.append(f"{' or '.join(fields[alternative].env)} for {alternative}")
        items.append(f"{item} (or {' or '.join(ours)})" if ours else item)
    hint = ", ".join(items)
    if vendor:
        hint += "; the vendor's variables work too: " + ", ".join(vendor)
    return hint


def _from_env(environ: Mapping[str, str], provider: str, name: str, aliases: Sequence[str]) -> str | None:
    for key in (env_name(provider, name), *aliases):
        value = environ.get(key)
        if value is not None and value != "":
            return value
    return None


def missing_required(settings: Any) -> list[str]:
    return [
        f.name for f in attrs.fields(type(settings)) if info_of(f).required and getattr(settings, f.name) in (None, "")
    ]


def secrets_of(settings: Any) -> list[Secret]:
    return [v for f in attrs.fields(type(settings)) if isinstance(v := getattr(settings, f.name), Secret)]


def split_transport(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    transport = {k: v for k, v in kwargs.items() if k in TRANSPORT_FIELDS}
    rest = {k: v for k, v in kwargs.items() if k not in TRANSPORT_FIELDS}
    return transport, rest


def resolve_transport(
    provider: str,
    kwargs: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    from_config: Mapping[str, Any] | None = None,
) -> Policy:
    settings: Policy = resolve(Policy, provider, kwargs=kwargs, environ=environ, from_config=from_config)
    return settings


# URLs


def is_url(text: str) -> bool:
    return "://" in text


def provider_from_scheme(scheme: str) -> str:
    """``stream``, ``stream+http`` and ``stream+https`` all name the provider ``stream``."""
    return scheme.split("+", 1)[0].lower()


def settings_from_url(cls: type[Any], url: str, *, default_scheme: str = "https") -> dict[str, Any]:
    """Map a URL's parts onto a settings class, by the fields' ``url=`` markers.

    ``user:secret@`` fill the fields marked ``username`` / ``password``; host,
    port and path become ``base_url`` (``+http`` in the scheme picks plain HTTP,
    for emulators and proxies) unless fields are marked ``host`` / ``port``;
    query parameters are settings by name.
    """
    parts = urlsplit(url)
    fields = {f.name: info_of(f) for f in attrs.fields(cls)}
    by_part = {info.url: name for name, info in fields.items() if info.url}
    out: dict[str, Any] = {}
    from urllib.parse import unquote

    if parts.username and "username" in by_part:
        out[by_part["username"]] = unquote(parts.username)
    if parts.password and "password" in by_part:
        out[by_part["password"]] = unquote(parts.password)
    try:
        port = parts.port
    except ValueError:
        raise SettingsError(f"bad port in URL {mask_url(url)}") from None
    if parts.hostname:
        if "host" in by_part:
            out[by_part["host"]] = parts.hostname
            if port is not None and "port" in by_part:
                out[by_part["port"]] = port
        elif "base_url" in fields:
            _, plus, sub = parts.scheme.partition("+")
            scheme = sub if plus and sub in ("http", "https") else default_scheme
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            netloc = host if port is None else f"{host}:{port}"
            out["base_url"] = urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
    if parts.path.strip("/") and "path" in by_part:
        out[by_part["path"]] = unquote(parts.path.strip("/"))
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        out[key] = value
    return out


def mask_url(url: str) -> str:
    """The URL with its password and any sensitive query values shown as ``***``."""
    try:
        parts: SplitResult = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{hostport}"
        query = "&".join(
            f"{k}={MASK}" if _SENSITIVE_KEY.search(k) else f"{k}={v}"
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<unparseable URL>"


def describe(cls: type[Any], provider: str) -> list[dict[str, Any]]:
    """The settings table for docs and ``eventkit providers --settings``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for field in attrs.fields(cls):
        info = info_of(field)
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = None
        rows.append(
            {
                "name": field.name,
                "type": getattr(hints.get(field.name), "__name__", str(hints.get(field.name))),
                "required": info.required,
                "secret": info.secret,
                "default": None if info.secret or default is attrs.NOTHING else default,
                "env": [env_name(provider, field.name), *info.env],
                "help": info.help,
            }
        )
    return rows
