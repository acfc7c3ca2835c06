"""Users run mypy --strict: a small typed program sees the right types, and its mistakes are caught."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

USER_PROGRAM = """
from __future__ import annotations

from decimal import Decimal

import attrs

import eventkit


@eventkit.event("order_ready")
@attrs.frozen
class OrderReady:
    order_id: str = attrs.field(metadata=eventkit.key("OrderId"))
    amount: Decimal


@eventkit.event("refund")
@attrs.frozen
class Refund:
    order_id: str


async def main() -> None:
    async with eventkit.connect_async("memory") as kit:
        await kit.send(OrderReady("1", Decimal("2")), to="topic:t")
        await kit.send_many([OrderReady("1", Decimal("2")), Refund("x")], to="topic:t")
        async for typed in kit.listen(OrderReady):
            reveal_type(typed)  # R1
            reveal_type(typed.value.amount)  # R2
        async for either in kit.listen((OrderReady, Refund)):
            reveal_type(either.value)  # R3
        async for maybe in kit.listen(OrderReady, on_invalid="raw"):
            reveal_type(maybe)  # R4
        async for plain in kit.listen({"order_ready"}):
            reveal_type(plain)  # R5
        async for wrong in kit.listen(OrderReady):
            wrong.value.missing  # E1
        await kit.send(object(), to="topic:t")  # E2
    with eventkit.connect("memory") as sync:
        for t in sync.listen(Refund):
            reveal_type(t.value)  # R6
    reveal_type(eventkit.check(OrderReady))  # R7
"""

EXPECTED = {
    "R1": "eventkit._typed.Typed[user_program.OrderReady]",
    "R2": "decimal.Decimal",
    "R3": "user_program.OrderReady | user_program.Refund",
    "R4": "eventkit._typed.Typed[user_program.OrderReady] | eventkit._event.Event",
    "R5": "eventkit._event.Event",
    "R6": "user_program.Refund",
    "R7": "eventkit._typed_check.TypeReport",
}


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is in the dev extra")
def test_mypy_strict_sees_the_typed_api(tmp_path: Path) -> None:
    program = tmp_path / "user_program.py"
    program.write_text(USER_PROGRAM)
    lines = USER_PROGRAM.splitlines()
    marks = {m.group(1): n for n, line in enumerate(lines, 1) if (m := re.search(r"# ([RE]\d)$", line))}
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".mypy_cache"), str(program)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    revealed = dict(re.findall(r":(\d+): note: Revealed type is \"([^\"]+)\"", output))
    for mark, expected in EXPECTED.items():
        assert revealed.get(str(marks[mark])) == expected, f"{mark}: {output}"
    errors = {int(n) for n in re.findall(r":(\d+): error:", output)}
    assert errors == {marks["E1"], marks["E2"]}, output
