"""What the reliability tests share: one emulator set-up per HTTP provider, keys made at run time."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from eventkit_asterisk.testing.emulator import AriEmulator
from eventkit_signalwire.testing.emulator import SignalWireEmulator
from eventkit_stream.testing.emulator import StreamEmulator
from eventkit_vonage.testing.emulator import VonageEmulator

from eventkit.testing.faults import FaultPlan

VONAGE_APP = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
VONAGE_CONVERSATION = "CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b"
SIGNALWIRE_CALL = "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"
ARI_PASSWORD = "ari-secret-pw-0123456789"
MARKER = re.compile(rb"rel-(\d{6})")

EVENTS = int(os.environ.get("EVENTKIT_REL_EVENTS", "120"))
"""Events per provider in the fault runs: 120 by default, 2000 for the documented full run."""

FAULT_TRANSPORT: dict[str, Any] = {
    "timeout": 0.25,
    "max_attempts": 8,
    "backoff_initial": 0.01,
    "backoff_max": 0.1,
    "retry_after_max": 1.0,
    "concurrency": 50,
}


@functools.cache
def rsa_pair() -> tuple[str, str]:
    """(private PKCS#8 PEM, public PEM), generated once per run; no key is committed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


@attrs.define
class Setup:
    """A running emulator, the settings that point a provider at it, and a target it accepts."""

    provider: str
    target: str
    settings: dict[str, Any]
    plan: FaultPlan | None
    sender: str | None = None


def _stream(plan: FaultPlan | None) -> contextlib.AbstractContextManager[Setup]:
    @contextlib.contextmanager
    def run() -> Iterator[Setup]:
        with StreamEmulator(faults=plan) as emu:
            settings = {"api_key": emu.api_key, "api_secret": emu.api_secret, "base_url": emu.url, "environ": {}}
            yield Setup("stream", "channel:messaging:general", settings, plan, sender="rel-bot")

    return run()


def _vonage(plan: FaultPlan | None) -> contextlib.AbstractContextManager[Setup]:
    @contextlib.contextmanager
    def run() -> Iterator[Setup]:
        private, public = rsa_pair()
        with VonageEmulator(public_key=public, application_id=VONAGE_APP, faults=plan) as emu:
            settings = {"application_id": VONAGE_APP, "private_key": private, "base_url": emu.url}
            yield Setup("vonage", f"conversation:{VONAGE_CONVERSATION}", settings, plan)

    return run()


def _signalwire(plan: FaultPlan | None) -> contextlib.AbstractContextManager[Setup]:
    @contextlib.contextmanager
    def run() -> Iterator[Setup]:
        with SignalWireEmulator(faults=plan) as emu:
            settings = {"project_id": emu.project_id, "api_token": emu.api_token, "base_url": emu.url}
            yield Setup("signalwire", f"call:{SIGNALWIRE_CALL}", settings, plan)

    return run()


def _asterisk_ari(plan: FaultPlan | None) -> contextlib.AbstractContextManager[Setup]:
    @contextlib.contextmanager
    def run() -> Iterator[Setup]:
        server = AriEmulator({"asterisk": ARI_PASSWORD}, apps=("ek",), faults=plan)
        server.start()
        try:
            settings = {"ari_url": server.url, "ari_username": "asterisk", "ari_password": ARI_PASSWORD}
            yield Setup("asterisk", "app:ek", settings, plan)
        finally:
            server.close()

    return run()


HTTP_PROVIDERS: dict[str, Callable[[FaultPlan | None], contextlib.AbstractContextManager[Setup]]] = {
    "stream": _stream,
    "vonage": _vonage,
    "signalwire": _signalwire,
    "asterisk-ari": _asterisk_ari,
}


def marker(n: int) -> str:
    return f"rel-{n:06d}"


def events(count: int) -> list[dict[str, Any]]:
    """``count`` distinct events; each carries its number on the wire so the platform side can be matched."""
    return [{"name": "rel_event", "data": {"marker": marker(n), "n": n}} for n in range(count)]


def number_of(request: bytes) -> int:
    found = MARKER.search(request)
    assert found is not None, f"no marker in {request[:200]!r}"
    return int(found.group(1))
