"""Asterisk emulators: AMI (TCP) and ARI (HTTP + websocket) on loopback.

See :mod:`.asterisk_ami` and :mod:`.asterisk_ari`; both are written from
Asterisk's source (``main/manager.c``, ``res/ari/resource_events.c``) and its ARI API
descriptions, not from the eventkit provider.
"""

from __future__ import annotations

from .ami_emulator import AmiEmulator, AmiUser, parse_extensions_line, separate_args, user_event_blob
from .ari_emulator import AriEmulator, flatten_for_ami

__all__ = [
    "AmiEmulator",
    "AmiUser",
    "AriEmulator",
    "flatten_for_ami",
    "parse_extensions_line",
    "separate_args",
    "user_event_blob",
]
