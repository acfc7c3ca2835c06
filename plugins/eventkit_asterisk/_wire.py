"""Asterisk wire facts (AMI framing, the UserEvent action, ARI user events), in one place for the codecs, the framing and the docs.

Sources: Asterisk's ``main/manager.c`` (AMI), ``res/ari/resource_events.c`` and
``main/http.c`` (ARI); see docs/providers/asterisk.md for the links.
"""

from __future__ import annotations

PROVIDER = "asterisk"

# AMI framing (main/manager.c)
BANNER_PREFIX = "Asterisk Call Manager/"
MAX_LINE_BYTES = 1024
"""Asterisk's per-line input buffer (``inbuf[1025]``): a line and its CRLF must fit."""
MAX_ACTION_LINES = 128
"""``AST_MAX_MANHEADERS``: header lines per action, ``Action:`` included."""

# The UserEvent action
RESERVED_KEYS = frozenset({"action", "actionid", "userevent", "event", "privilege", "response", "eventname"})
"""Body keys that would collide with the action's or the event's own headers.

``Action``/``UserEvent`` are not echoed by Asterisk, ``ActionID`` is the
correlation id echoed into the event, ``Event``/``Privilege``/``Response`` start
frames for every AMI client, and ``eventname`` renames the event when it goes
through the dialplan or ARI.
"""
FIXED_ACTION_LINES = 3
"""``Action``, ``ActionID`` and ``UserEvent`` lines of every UserEvent action."""
MAX_AMI_KEYS = MAX_ACTION_LINES - FIXED_ACTION_LINES
MAX_LINE_CONTENT = MAX_LINE_BYTES - 2
"""Bytes of ``Key: value`` before the CRLF that must fit in Asterisk's line buffer."""

# The dialplan UserEvent() application
MAX_DIALPLAN_KEYS = 100
"""``AST_APP_ARG(extra)[100]``: the 100th body argument would swallow the rest."""
MAX_DIALPLAN_LINE_BYTES = 8190
"""The longest extensions.conf line Asterisk loads, in UTF-8 bytes before the line break.

``main/config.c`` reads lines into an 8192-byte buffer; observed on Asterisk 22.10.1:
8,190 bytes load and round-trip, 8,191 are skipped (``Line N too long, skipping``).
"""
DIALPLAN_LINE_ROOM = 256
"""Bytes ``render_user_event`` leaves, by default, for what precedes the call on its line:
``exten => <exten>,<priority>,`` or `` same => n,`` (11 bytes), indentation, a label."""

# ARI user events (POST /ari/events/user/{name})
MAX_BODY_BYTES = 40960
"""``MAX_CONTENT_LENGTH`` of Asterisk's HTTP server: larger bodies get 413."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Asterisk parses ARI bodies with jansson, whose integers are 64-bit (``json_int_t``): on Asterisk
22.10.1 a variable of ``2**63`` gets ``400 Error parsing request body``; ``-2**63`` passes."""
MAX_SOURCES = 127
"""The query form of ``source`` takes fewer than 128 values (``MAX_VALS``)."""
SOURCE_KINDS = ("channel", "bridge", "endpoint")
"""The only source schemes ``stasis_app_user_event`` implements (deviceState gives 400)."""
