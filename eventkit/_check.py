"""Portability: would each provider carry this event, where, and what would it change.

Without a target the question is "does this name and data fit the platform at
all": each provider is asked at every target kind it declares (with a
placeholder address), so a report says which kinds accept the event, and the
changes the platform makes on the way (AMI carries strings only). A route
(``to="@orders"``) is resolved per provider from its configured routes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping, overload

import attrs

from . import _registry, _typed
from ._capabilities import PayloadModel, SenderRule
from ._config import provider_section
from ._errors import EventkitError, TargetError, Violation
from ._event import Event
from ._provider import Provider
from ._routes import is_route, parse_routes, resolve_route
from ._settings import env_name
from ._targets import parse_target, sample_target

if TYPE_CHECKING:
    from ._typed import TypedInstance
    from ._typed_check import TypeReport

_PLACEHOLDER = "eventkit-check"
SETTINGS_RULE = "settings"
"""A violation with this rule is about the connection's settings (missing credentials), not the
event: ``check`` asks without credentials, so it leaves those out."""


@attrs.frozen
class ProviderVerdict:
    provider: str
    accepted: bool
    violations: tuple[Violation, ...] = ()
    error: str | None = None
    """Set when the provider could not be asked at all (failed to load, not installed)."""
    target: str | None = None
    """The target asked about: the one given, the route's, or (without one) the best fitting kind's."""
    accepted_kinds: tuple[str, ...] = ()
    """Without a target: every target kind that accepts the event."""
    changes: tuple[str, ...] = ()
    """What the platform changes on the way (e.g. values that arrive as strings)."""


@attrs.frozen
class PortabilityReport:
    event: Event
    target: str | None
    verdicts: tuple[ProviderVerdict, ...]

    @property
    def accepted_by(self) -> list[str]:
        return [v.provider for v in self.verdicts if v.accepted]

    @property
    def portable(self) -> bool:
        return all(v.accepted for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event.name,
            "target": self.target,
            "portable": self.portable,
            "providers": [
                {
                    "provider": v.provider,
                    "accepted": v.accepted,
                    "target": v.target,
                    "violations": [str(x) for x in v.violations],
                    **({"accepted_kinds": list(v.accepted_kinds)} if self.target is None else {}),
                    **({"changes": list(v.changes)} if v.changes else {}),
                    **({"error": v.error} if v.error else {}),
                }
                for v in self.verdicts
            ],
        }


@overload
def check(event: type[Any], *, to: str | None = None, providers: Iterable[str] | None = None) -> TypeReport: ...
@overload
def check(
    event: Event | str | TypedInstance,
    data: Mapping[str, Any] | None = None,
    *,
    to: str | None = None,
    sender: str | None = None,
    providers: Iterable[str] | None = None,
    routes: Mapping[str, Mapping[str, str] | str] | None = None,
    environ: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> PortabilityReport: ...
def check(
    event: Any,
    data: Mapping[str, Any] | None = None,
    *,
    to: str | None = None,
    sender: str | None = None,
    providers: Iterable[str] | None = None,
    routes: Mapping[str, Mapping[str, str] | str] | None = None,
    environ: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> PortabilityReport | TypeReport:
    """Validate one event against several providers, without credentials or I/O.

    ``to`` narrows the question to one target (or route); without it every target
    kind a provider declares is tried. ``routes`` (per provider name) beats
    ``EVENTKIT_<PROVIDER>_ROUTES`` and ``eventkit.toml``. Given an event type
    (``check(OrderReady)``), reports which providers can carry every field of it.
    """
    if isinstance(event, type):
        from ._typed_check import check_type

        return check_type(event, to=to, providers=providers)
    if not isinstance(event, (Event, str)):
        event = attrs.evolve(_typed.to_event(event, data), sender=sender)
    if isinstance(event, str):
        event = Event(event, data or {}, target=to, sender=sender)
    asked = to or event.target
    if asked is not None and not is_route(asked):
        parse_target(asked)  # a malformed target is the caller's error, not a verdict
    env = os.environ if environ is None else environ
    names = list(providers) if providers is not None else _registry.names()
    verdicts = []
    for name in names:
        try:
            cls = _registry.load(name)
            provider = cls(cls.Settings())
            if asked is None:
                verdicts.append(_any_target(provider, event))
                continue
            target = asked
            if is_route(asked):
                target = resolve_route(asked, _routes_for(cls.name, routes, env, config), cls.name)
            violations = _about_event(provider.validate(event, parse_target(target)))
        except EventkitError as exc:
            found = tuple(getattr(exc, "violations", ()))
            verdicts.append(ProviderVerdict(name, False, found, None if found else exc.message))
            continue
        verdicts.append(
            ProviderVerdict(name, not violations, tuple(violations), target=target, changes=_changes(provider, event))
        )
    return PortabilityReport(event, asked, tuple(verdicts))


def _routes_for(
    name: str,
    routes: Mapping[str, Mapping[str, str] | str] | None,
    environ: Mapping[str, str],
    config: str | os.PathLike[str] | None,
) -> dict[str, str]:
    if routes is not None and name in routes:
        return parse_routes(routes[name], name)
    from_env = environ.get(env_name(name, "routes"))
    if from_env:
        return parse_routes(from_env, name)
    return parse_routes(provider_section(name, config, environ, frozenset()).get("routes"), name)


def _about_event(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.rule != SETTINGS_RULE]


def _any_target(provider: Provider, event: Event) -> ProviderVerdict:
    """The provider's verdict at each target kind it declares; the best one reported."""
    best: tuple[str, list[Violation]] | None = None
    accepted: list[str] = []
    notes: list[str] = []
    if event.sender is None:
        # The question is whether the name and data fit; a sender is the sending side's to give.
        needs = [f.form for f in provider.capabilities.targets if f.sender is SenderRule.REQUIRED]
        if needs:
            notes.append(f"{', '.join(needs)} also need{'s' if len(needs) == 1 else ''} a sender")
            event = attrs.evolve(event, sender=_PLACEHOLDER)
    for form in provider.capabilities.targets:
        target = sample_target(form.kind)
        violations = _about_event(provider.validate(event, parse_target(target)))
        if not violations:
            accepted.append(form.kind)
        if best is None or len(violations) < len(best[1]):
            best = (target, violations)
    if best is None:
        return ProviderVerdict(provider.name, False, error=f"{provider.name} declares no target it sends to")
    target, violations = best
    return ProviderVerdict(
        provider.name,
        bool(accepted),
        () if accepted else tuple(violations),
        target=target if not accepted else None,
        accepted_kinds=tuple(accepted),
        changes=(*_changes(provider, event), *notes),
    )


def _changes(provider: Provider, event: Event) -> tuple[str, ...]:
    """What a receiver sees differently from what was sent, value by value where knowable."""
    if provider.capabilities.payload is not PayloadModel.FLAT_STRINGS:
        return ()
    out = []
    for key, value in event.data.items():
        if isinstance(value, str):
            continue
        if isinstance(value, (dict, list)):
            out.append(f"{key}: a {type(value).__name__} travels as eventkit's reversible JSON text")
        else:
            shown = "true" if value is True else "false" if value is False else "null" if value is None else value
            out.append(
                f"{key}: {type(value).__name__} {value!r} travels as the string {str(shown)!r} (flat-string payload)"
            )
    return tuple(out)


__all__ = ["PortabilityReport", "ProviderVerdict", "TargetError", "check", "sample_target"]
