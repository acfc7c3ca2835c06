"""The distribution is ``eventkit-cpaas``; the import and the command stay ``eventkit``.

``eventkit`` on the public package index is an unrelated project, so the name users
install must differ from the name they import. These tests read the installed
metadata, as ``pip`` left it, rather than pyproject.toml.
"""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

import eventkit

DIST = "eventkit-cpaas"


def test_the_distribution_is_installed_under_its_new_name() -> None:
    dist = distribution(DIST)
    assert dist.metadata["Name"] == DIST
    assert dist.version == eventkit.__version__


def test_the_old_distribution_name_is_not_what_provides_eventkit() -> None:
    with pytest.raises(PackageNotFoundError):
        distribution("eventkit")


def test_it_provides_the_eventkit_console_script() -> None:
    scripts = [ep for ep in distribution(DIST).entry_points if ep.group == "console_scripts"]
    assert [(ep.name, ep.value) for ep in scripts] == [("eventkit", "eventkit._cli:main")]
    from eventkit._cli import main

    assert scripts[0].load() is main


def test_it_provides_the_eventkit_package() -> None:
    """From a wheel the package's files are listed; from an editable install a .pth names its directory."""
    dist = distribution(DIST)
    files = dist.files or []
    package_dir = Path(eventkit.__file__).resolve().parent
    listed = {str(f).replace("\\", "/") for f in files}
    if "eventkit/__init__.py" in listed:
        assert (Path(str(dist.locate_file("eventkit/__init__.py"))).resolve()) == package_dir / "__init__.py"
        return
    roots = []
    for f in files:
        if str(f).endswith(".pth"):
            text = Path(str(dist.locate_file(f))).read_text()
            roots += [Path(line.strip()).resolve() for line in text.splitlines() if line.strip()]
    assert package_dir.parent in roots, f"{DIST} neither lists eventkit/ nor points at {package_dir.parent}"


def test_the_installed_command_runs() -> None:
    files = distribution(DIST).files or []
    names = {"eventkit", "eventkit.exe"}
    scripts = [Path(str(distribution(DIST).locate_file(f))) for f in files if Path(str(f)).name in names]
    assert scripts, f"{DIST} installed no eventkit command"
    env = {**os.environ, "PATH": os.pathsep.join([str(scripts[0].parent), os.environ.get("PATH", "")])}
    done = subprocess.run(
        [str(scripts[0]), "--version"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"eventkit {eventkit.__version__}"
