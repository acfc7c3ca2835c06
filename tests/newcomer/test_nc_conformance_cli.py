"""`eventkit conformance PROVIDER`: the suite in one command, for plugin authors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from eventkit import _cli

CORE_TESTS = Path(__file__).resolve().parents[1] / "core"
EVENTKIT = [sys.executable, "-m", "eventkit"]


def test_a_harness_given_as_module_class_runs_the_whole_suite() -> None:
    done = subprocess.run(
        [*EVENTKIT, "conformance", "memory", "--harness", "test_memory_conformance:MemoryHarness", "--", "-q"],
        cwd=CORE_TESTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout and "failed" not in done.stdout


def test_a_failing_check_fails_the_command(tmp_path: Path) -> None:
    (tmp_path / "lying_harness.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(CORE_TESTS)!r})\n"
        "from test_memory_conformance import MemoryHarness\n\n"
        "class LyingHarness(MemoryHarness):\n"
        "    def expected(self, sent):\n"
        "        return {**sent.data, 'extra': 1}\n"
    )
    done = subprocess.run(
        [*EVENTKIT, "conformance", "memory", "--harness", "lying_harness:LyingHarness", "--", "-q", "-k", "round_trip"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["conformance", "memory", "--harness", "no_colon"], "MODULE:CLASS"),
        (["conformance", "memory", "--harness", "no_such_module_xyz:H"], "cannot import"),
        (["conformance", "acme-not-installed"], "no conformance harness"),
        (["conformance", "stream", "--harness", "eventkit.testing.harness:SandboxHarness"], "not 'stream'"),
    ],
)
def test_bad_harnesses_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(argv, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err
