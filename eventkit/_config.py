"""``eventkit.toml``: provider settings and routes by provider name, secrets from the environment.

```toml
[stream]
api_key = "my-key"
api_secret = "${STREAM_API_SECRET}"   # secret settings must come from the environment

[stream.routes]
orders = "channel:messaging:orders"
```

Found at ``config=`` (a path), else ``$EVENTKIT_CONFIG``, else ``./eventkit.toml`` when it
exists. It is the lowest-priority source: keyword arguments, the URL and
``EVENTKIT_<PROVIDER>_<SETTING>`` variables all win over it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

from ._errors import SettingsError

DEFAULT_FILE = "eventkit.toml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def config_path(config: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    """The file to read, or ``None`` when none is named and ``./eventkit.toml`` does not exist."""
    if config is not None:
        return Path(config).expanduser()
    named = environ.get("EVENTKIT_CONFIG")
    if named:
        return Path(named).expanduser()
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def load_config(path: Path) -> dict[str, dict[str, Any]]:
    """The file's provider tables; a missing or malformed file is a :class:`SettingsError`."""
    # Imported here: only a client that finds a config file pays for the TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read config file {str(path)!r}: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    tables: dict[str, dict[str, Any]] = {}
    for name, table in document.items():
        if not isinstance(table, dict):
            raise SettingsError(f"config file {str(path)!r}: {name!r} must be a table like [{name}]")
        tables[name] = table
    return tables


def provider_section(
    name: str,
    config: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    secret_names: frozenset[str],
) -> dict[str, Any]:
    """One provider's settings from the config file, ``${VAR}`` references filled from ``environ``.

    A secret setting written literally in the file is refused: config files get
    committed and copied, environment variables and secret stores do not.
    """
    path = config_path(config, environ)
    if path is None:
        return {}
    section = load_config(path).get(name, {})
    out: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, str):
            whole = _ENV_REF.fullmatch(value.strip())
            if whole is not None:
                variable = whole.group(1)
                if variable not in environ:
                    raise SettingsError(
                        f"{path.name}: [{name}] {key} names ${{{variable}}}, which is not set in the environment",
                        provider=name,
                    )
                value = environ[variable]
            elif key in secret_names:
                raise SettingsError(
                    f'{path.name}: [{name}] {key} is a secret; write {key} = "${{SOME_VARIABLE}}" '
                    "and put the value in the environment",
                    provider=name,
                )
        elif key in secret_names:
            raise SettingsError(f"{path.name}: [{name}] {key} is a secret; take it from the environment", provider=name)
        out[key] = value
    return out
