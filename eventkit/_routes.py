"""Routes: logical destinations (``@orders``) that each provider maps to its own target.

Application code names the route; configuration says what it means on each
vendor, so switching vendors changes settings, never ``send`` calls. A route is
written ``@name``: no target kind starts with ``@``, so it cannot be confused
with one (``ami`` is a target; ``@ami`` is a route).
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from ._errors import SettingsError, TargetError, Violation
from ._targets import parse_target

ROUTE_PREFIX = "@"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def is_route(text: object) -> bool:
    return isinstance(text, str) and text.startswith(ROUTE_PREFIX)


def parse_routes(value: Any, provider: str) -> dict[str, str]:
    """Routes from a mapping, JSON text (``{"orders": "channel:messaging:orders"}``) or
    ``name=target,name=target`` text (environment variables and ``--set`` give text).

    Every route name and target is checked here, so a typo fails at connect time.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise SettingsError("routes: not a JSON object", provider=provider) from None
        else:
            pairs = {}
            for item in filter(None, (part.strip() for part in text.split(","))):
                name, eq, target = item.partition("=")
                if not eq:
                    raise SettingsError(
                        f"routes: {name.strip()!r} has no '=' (write name=target,name=target)", provider=provider
                    )
                pairs[name.strip()] = target.strip()
            value = pairs
    if not isinstance(value, Mapping):
        raise SettingsError("routes must be a mapping of route name to target", provider=provider)
    routes: dict[str, str] = {}
    problems = []
    for name, target in value.items():
        name = str(name).removeprefix(ROUTE_PREFIX)
        if not _NAME.fullmatch(name):
            problems.append(f"route name {name!r} must be letters, digits, '_', '.' or '-'")
            continue
        if not isinstance(target, str):
            problems.append(f"route {name!r} must map to a target string")
            continue
        if is_route(target):
            problems.append(f"route {name!r} maps to another route ({target}); give a target")
            continue
        try:
            parse_target(target)
        except TargetError as exc:
            problems.append(f"route {name!r}: {exc.message}")
            continue
        routes[name] = target
    if problems:
        raise SettingsError("; ".join(problems), provider=provider)
    return routes


def resolve_route(text: str, routes: Mapping[str, str], provider: str) -> str:
    """The target ``@name`` means for this provider; an unknown route fails before any I/O."""
    name = text[len(ROUTE_PREFIX) :]
    target = routes.get(name)
    if target is None:
        known = ", ".join(f"@{n}" for n in sorted(routes)) or "none configured"
        raise TargetError(
            violations=[Violation("to", "route", f"{provider} has no route {text!r} (routes: {known})", provider)],
            provider=provider,
        )
    return target
