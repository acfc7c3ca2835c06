"""Shared by the framework tests: the examples on sys.path, and signed (or forged) Stream webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import uuid
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

API_KEY = "framework-key"
SECRET = "framework-secret-0123456789abcdef-0123456789abcdef"
ENVIRON = {"STREAM_API_KEY": API_KEY, "STREAM_API_SECRET": SECRET}


def stream_webhook(order_id: str, *, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    """A Stream custom-event webhook, signed as Stream signs (HMAC-SHA256 of the body under the API
    secret, hex, in X-Signature; X-Webhook-Id the delivery id), with header names in MIXED case as
    Django's and Flask's ``request.headers`` and many proxies spell them."""
    body = json.dumps(
        {
            "type": "order_ready",
            "custom": {"order_id": order_id},
            "user": {"id": "till-1"},
            "cid": "messaging:kitchen",
            "channel_type": "messaging",
            "channel_id": "kitchen",
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": signature,
        "X-Webhook-Id": str(uuid.uuid4()),
        "x-WEBHOOK-attempt": "1",
        "X-Api-Key": API_KEY,
    }
    return headers, body


def order_ids(events: list[Any]) -> list[str]:
    return [event.data["order_id"] for event in events]
