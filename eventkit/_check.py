"""Portability: which providers would accept this event at this target, and why not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, overload

import attrs

from . import _registry, _typed
from ._errors import EventkitError, TargetError, Violation
from ._event import Event
from ._targets import parse_target

if TYPE_CHECKING:
    from ._typed import TypedInstance
    from ._typed_check import TypeReport


@attrs.frozen
class ProviderVerdict:
    provider: str
    accepted: bool
    violations: tuple[Violation, ...] = ()
    error: str | None = None
    """Set when the provider could not be asked at all (failed to load, not installed)."""


@attrs.frozen
class PortabilityReport:
    event: Event
    target: str
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
            "providers": [
                {
                    "provider": v.provider,
                    "accepted": v.accepted,
                    "violations": [str(x) for x in v.violations],
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
) -> PortabilityReport: ...
def check(
    event: Any,
    data: Mapping[str, Any] | None = None,
    *,
    to: str | None = None,
    sender: str | None = None,
    providers: Iterable[str] | None = None,
) -> PortabilityReport | TypeReport:
    """Validate one event against several providers without credentials or I/O.

    Each provider validates with its default settings; its target rules apply
    to ``to`` (a target another provider cannot serve is itself a violation).
    Given an event type (``check(OrderReady)``), reports which providers can
    carry every field of it (``to`` optional: each target kind is checked).
    """
    if isinstance(event, type):
        from ._typed_check import check_type

        return check_type(event, to=to, providers=providers)
    if not isinstance(event, (Event, str)):
        event = attrs.evolve(_typed.to_event(event, data), sender=sender)
    if isinstance(event, str):
        event = Event(event, data or {}, target=to, sender=sender)
    target_text = to or event.target
    if target_text is None:
        raise TargetError("check() needs a target: to=...")
    target = parse_target(target_text)
    names = list(providers) if providers is not None else _registry.names()
    verdicts = []
    for name in names:
        try:
            cls = _registry.load(name)
            provider = cls(cls.Settings())
            violations = provider.validate(event, target)
        except EventkitError as exc:
            verdicts.append(ProviderVerdict(name, False, error=exc.message))
            continue
        verdicts.append(ProviderVerdict(name, not violations, tuple(violations)))
    return PortabilityReport(event, target_text, tuple(verdicts))
