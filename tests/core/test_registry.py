"""Providers are found through real entry points: a distribution on the path, not monkeypatching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import eventkit
from eventkit import _registry

PROVIDER_SOURCE = textwrap.dedent(
    """
    import attrs
    from eventkit import Capabilities, ListenMode, Provider, TargetForm, setting

    @attrs.frozen
    class AcmeSettings:
        region: str = setting("eu")

    class AcmeCodec:
        def validate(self, event, target):
            return []

    class AcmeProvider(Provider):
        name = "acme"
        Settings = AcmeSettings
        capabilities = Capabilities(targets=(TargetForm("pager", "pager:<id>"),), listen=())

        def codec(self):
            return AcmeCodec()
    """
)


def make_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[eventkit.providers]\n{lines}\n")


def run(root: Path, code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_third_party_provider_is_found_and_used(tmp_path: Path) -> None:
    make_distribution(
        tmp_path, "acme_eventkit", {"acme": "acme_provider:AcmeProvider"}, {"acme_provider": PROVIDER_SOURCE}
    )
    result = run(
        tmp_path,
        "import json, eventkit\n"
        "from eventkit import _registry\n"
        "kit = eventkit.connect('acme', region='us')\n"
        "loaded, failures = _registry.load_all()\n"
        "print(json.dumps({'region': kit.provider.settings.region, 'names': sorted(loaded),"
        " 'kinds': list(kit.provider.capabilities.target_kinds), 'failures': [f.name for f in failures]}))",
    )
    assert result["region"] == "us" and "acme" in result["names"] and result["kinds"] == ["pager"]
    assert "acme" not in result["failures"]


def test_a_broken_plugin_is_reported_not_dropped(tmp_path: Path) -> None:
    make_distribution(
        tmp_path,
        "broken_eventkit",
        {"broken": "broken_provider:Provider", "notaprovider": "broken_provider2:Thing"},
        {
            "broken_provider": "raise ImportError('missing dependency: libfoo')\n",
            "broken_provider2": "class Thing: pass\n",
        },
    )
    result = run(
        tmp_path,
        "import json, eventkit\n"
        "from eventkit import _registry\n"
        "loaded, failures = _registry.load_all()\n"
        "try:\n    eventkit.connect('broken')\n    err = None\nexcept eventkit.PluginLoadError as e:\n    err = str(e)\n"
        "print(json.dumps({'failures': {f.name: f.error for f in failures}, 'err': err}))",
    )
    assert "libfoo" in result["failures"]["broken"] and "libfoo" in result["err"]
    assert "not an eventkit.Provider" in result["failures"]["notaprovider"]


def test_duplicate_names_are_an_error(tmp_path: Path) -> None:
    make_distribution(
        tmp_path, "impostor", {"memory": "impostor_mod:MemoryProvider"}, {"impostor_mod": PROVIDER_SOURCE}
    )
    result = run(
        tmp_path,
        "import json, eventkit\n"
        "try:\n    eventkit.connect('memory')\n    err = None\nexcept eventkit.DuplicateProviderError as e:\n    err = str(e)\n"
        "print(json.dumps({'err': err}))",
    )
    assert result["err"] is not None and "impostor" in result["err"] and "eventkit_memory" in result["err"]


def test_cli_lists_third_party_providers(tmp_path: Path) -> None:
    make_distribution(
        tmp_path, "acme_eventkit", {"acme": "acme_provider:AcmeProvider"}, {"acme_provider": PROVIDER_SOURCE}
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "eventkit", "providers", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    payload = json.loads(out.stdout)
    assert payload["providers"]["acme"]["targets"] == ["pager:<id>"]


def test_unknown_provider_names_the_available() -> None:
    with pytest.raises(eventkit.ProviderNotFoundError) as caught:
        eventkit.connect("nope", environ={})
    assert "memory" in str(caught.value)


def test_built_in_memory_is_registered_like_any_plugin() -> None:
    (entry,) = _registry.entries()["memory"]
    assert entry.value == "eventkit_memory:MemoryProvider"


def test_core_never_imports_a_plugin() -> None:
    core = Path(eventkit.__file__).parent
    for path in core.rglob("*.py"):
        if "emulators" in path.parts:
            continue
        text = path.read_text()
        for vendor in (
            "eventkit_memory",
            "eventkit_stream",
            "eventkit_vonage",
            "eventkit_signalwire",
            "eventkit_asterisk",
        ):
            assert f"import {vendor}" not in text and f"from {vendor}" not in text, f"{path} imports {vendor}"
