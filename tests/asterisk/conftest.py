"""Fixtures for the asterisk provider's tests: emulators on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventkit_asterisk.testing.emulator import AmiEmulator, AmiUser


@pytest.fixture(scope="module")
def ami() -> Iterator[AmiEmulator]:
    users = {
        "app": AmiUser("s3cret-pw", read=("user", "system", "call"), write=("user", "system", "call")),
        "reader": AmiUser("reader-pw", read=("user",), write=()),
    }
    server = AmiEmulator(users, auth_fail_delay=0.02)
    server.start()
    try:
        yield server
    finally:
        server.close()
