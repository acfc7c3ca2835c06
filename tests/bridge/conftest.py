"""The bridge tests' emulators (one per test, skipped without their extras) and store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eventkit_asterisk.testing.sandbox import AmiSandbox
from eventkit_stream.testing.sandbox import StreamSandbox
from eventkit_vonage.testing.sandbox import VonageSandbox

from .bridge_support import need


@pytest.fixture
def ami() -> Iterator[AmiSandbox]:
    need(AmiSandbox)
    with AmiSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def stream() -> Iterator[StreamSandbox]:
    need(StreamSandbox)
    with StreamSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def vonage() -> Iterator[VonageSandbox]:
    need(VonageSandbox)
    with VonageSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bridge.db'}"
