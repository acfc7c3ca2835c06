"""Users get the types: ``mypy --strict`` on application code that uses the public API.

The package is copied out of the repository so mypy finds eventkit as users do,
installed, through its ``py.typed`` marker, not as source beside the code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_mypy_strict_accepts_user_code(tmp_path: Path) -> None:
    pytest.importorskip("starlette", reason="the mount example needs starlette (a dev dependency)")
    package = tmp_path / "user_pkg"
    shutil.copytree(HERE / "user_pkg", package)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "."],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
