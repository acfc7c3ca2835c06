"""The provider's codec: validation for both target kinds. Encoding lives with each wire:
AMI actions in ``_codec_ami``, ARI requests in ``_codec_ari``.
"""

from __future__ import annotations

from eventkit.provider import Event, Target, Violation

from ._codec_ari import validate_any
from ._settings import AsteriskSettings

MAPPING = (
    "AMI carries strings only: a string value travels as itself; any other JSON value travels as "
    "'ekjson:' + compact JSON (a string starting with 'ekjson:' too), so eventkit-to-eventkit round trips "
    "are exact. Events from other senders decode to strings (a repeated header becomes a list). "
    "Channel headers (Channel, Uniqueid, Linkedid, ...) and the echoed ActionID go to meta; source is "
    "'channel:<Uniqueid>' for dialplan events and 'ami' for the action. ARI keeps JSON types; Asterisk's "
    "own 'eventname' key is removed from the data."
)


class AsteriskCodec:
    """Validation for both target kinds (encoding lives with each wire: AMI frames, ARI requests)."""

    def __init__(self, settings: AsteriskSettings) -> None:
        self.settings = settings

    def validate(self, event: Event, target: Target) -> list[Violation]:
        return validate_any(event, target)
