"""Every claim about a vendor cites a source a reader of the repository can open.

The project's research notes live outside the repository, so a reference to them
(by the notes' name and a section number, or by their path under ``shared/``) sends
readers to a file they do not have. Docs and code cite the vendor's own docs URL, OpenAPI file or source path.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "site"}
# Spelt in pieces so this file does not match itself.
FORBIDDEN = (b"shared/" + b"vendors", b"vendor" + b" note")


def repository_files() -> list[Path]:
    found = []
    for here, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        found += [Path(here) / name for name in files]
    return found


def test_the_walk_sees_the_repository() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert {"pyproject.toml", "docs/providers/stream.md", "plugins/eventkit_asterisk/_frames.py"} <= files


def test_no_file_cites_the_private_vendor_notes() -> None:
    offenders = []
    for path in repository_files():
        text = path.read_bytes().lower()
        offenders += [f"{path.relative_to(ROOT)}: {word.decode()}" for word in FORBIDDEN if word in text]
    assert not offenders, "cite the public source instead:\n" + "\n".join(offenders)


def test_the_check_would_catch_a_citation(tmp_path: Path) -> None:
    planted = tmp_path / "x.py"
    planted.write_text("# see the Vendor " + "Note §2.1\n")
    assert any(word in planted.read_bytes().lower() for word in FORBIDDEN)
