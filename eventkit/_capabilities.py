"""What a provider declares it can do: read by docs, the CLI and the conformance suite."""

from __future__ import annotations

import enum

import attrs


class PayloadModel(str, enum.Enum):
    """What event data a platform can carry."""

    JSON = "json"
    """Any JSON object round-trips unchanged."""
    FLAT_STRINGS = "flat-strings"
    """Only string values (AMI headers); eventkit's reversible encoding covers the rest."""


class ListenMode(str, enum.Enum):
    WEBHOOK = "webhook"
    WEBSOCKET = "websocket"
    TCP = "tcp"
    IN_PROCESS = "in-process"


class SenderRule(str, enum.Enum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    IGNORED = "ignored"


@attrs.frozen
class TargetForm:
    """One target kind a provider sends to, with the form users write."""

    kind: str
    form: str
    description: str = ""
    sender: SenderRule = SenderRule.OPTIONAL


@attrs.frozen
class Limits:
    max_payload_bytes: int | None = None
    """Largest encoded payload, measured as the provider's docs say (usually compact UTF-8 JSON)."""
    max_name_length: int | None = None
    name_pattern: str | None = None
    """Regular expression a whole event name must match (``re.fullmatch``)."""
    max_keys: int | None = None
    notes: tuple[str, ...] = ()


@attrs.frozen
class Capabilities:
    targets: tuple[TargetForm, ...]
    listen: tuple[ListenMode, ...]
    payload: PayloadModel = PayloadModel.JSON
    limits: Limits = Limits()
    description: str = ""
    mapping: str = ""
    """How a received event differs from the one sent, where it does (empty: it does not)."""

    @property
    def target_kinds(self) -> tuple[str, ...]:
        return tuple(form.kind for form in self.targets)

    def form_for(self, kind: str) -> TargetForm | None:
        for form in self.targets:
            if form.kind == kind:
                return form
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "targets": [form.form for form in self.targets],
            "listen": [mode.value for mode in self.listen],
            "payload": self.payload.value,
            "limits": {k: v for k, v in attrs.asdict(self.limits).items() if v not in (None, (), [])},
            "description": self.description,
            "mapping": self.mapping,
        }
