"""``eventkit demo``: one event through every vendor's emulator and back, as a table.

With nothing configured, it starts the vendor emulators on 127.0.0.1, sends the
same event with each real provider, receives it through each provider's
listening path, and shows what went on the wire, what came back, the round-trip
time and where the platform changed the event. It works offline, never waits
more than ``--timeout`` per provider, and exits 1 if any provider failed (the
error is in its row).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from ._table import write_table
from .testing.sandbox import SANDBOXES, RoundTrip, Sandbox, missing_requirements, round_trip

DEMO_EVENT = "order_ready"
DEMO_DATA: dict[str, Any] = {"text": "héllo ✓", "order": 1234, "paid": True, "items": ["tea", "cake"]}
"""A string, a number, a boolean and a list: enough to show which platforms keep JSON types."""

CELL = 58


def _clip(text: str, width: int = CELL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class _Progress:
    """One status line on stderr while emulators start (rewritten in place on a terminal)."""

    def __init__(self, out: TextIO, names: Sequence[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.state = dict.fromkeys(names, "…")

    def update(self, name: str, state: str) -> None:
        self.state[name] = state
        if self.tty:
            line = "starting emulators: " + "  ".join(f"{n} {s}" for n, s in self.state.items())
            self.out.write("\r\x1b[2K" + line)
            self.out.flush()
        elif state != "…":
            self.out.write(f"emulator {name}: {state}\n")

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def _start(cls: type[Sandbox], progress: _Progress) -> tuple[Sandbox | None, BaseException | None]:
    missing = missing_requirements(cls)
    if missing:
        progress.update(cls.name, "missing " + ", ".join(missing))
        return None, ImportError(f"needs {', '.join(missing)}: pip install 'eventkit-cpaas[all]'")
    sandbox = cls()
    try:
        sandbox.start()
    except Exception as exc:  # one emulator failing to start must not stop the others' rows
        progress.update(cls.name, "failed")
        return None, exc
    progress.update(cls.name, "✓")
    return sandbox, None


def _failed_row(cls: type[Sandbox], error: BaseException) -> RoundTrip:
    from . import Event

    sent = Event(DEMO_EVENT, DEMO_DATA, target=cls.target, sender=cls.sender)
    return RoundTrip(sandbox=cls.name, provider=cls.provider, sent=sent, error=error)


def run(
    names: Sequence[str] | None = None, *, timeout: float = 5.0, progress_out: TextIO | None = None
) -> list[RoundTrip]:
    """Start the sandboxes, round-trip the demo event through each, stop them; one result each."""
    classes = [SANDBOXES[n] for n in (names or list(SANDBOXES))]
    progress = _Progress(progress_out or sys.stderr, [c.name for c in classes])
    with ThreadPoolExecutor(max_workers=len(classes)) as pool:
        starts = list(pool.map(lambda c: _start(c, progress), classes))
    progress.done()
    results: list[RoundTrip] = []
    try:
        for cls, (sandbox, error) in zip(classes, starts, strict=True):
            if sandbox is None:
                assert error is not None
                results.append(_failed_row(cls, error))
                continue
            results.append(asyncio.run(round_trip(sandbox, DEMO_EVENT, DEMO_DATA, timeout=timeout)))
    finally:
        with ThreadPoolExecutor(max_workers=len(classes)) as pool:
            list(pool.map(lambda s: s.close(), [s for s, _ in starts if s is not None]))
    return results


def _came_back(trip: RoundTrip) -> str:
    if trip.error is not None:
        return _clip(f"FAILED {type(trip.error).__name__}: {trip.error}")
    assert trip.received is not None
    data = json.dumps(trip.received.data, ensure_ascii=False, separators=(",", ":"))
    same = "equal to sent" if trip.received.data == trip.sent.data else data
    return _clip(f"{trip.received.name} {same}")


def table(trips: Sequence[RoundTrip]) -> list[list[str]]:
    rows = [["provider", "on the wire", "bytes", "came back", "round trip", "where the platform changed it"]]
    for trip in trips:
        label = SANDBOXES[trip.sandbox].label if trip.sandbox in SANDBOXES else trip.sandbox
        wire = trip.summary.line if trip.summary else "-"
        size = str(trip.summary.size) if trip.summary else "-"
        rtt = f"{trip.seconds * 1000:.1f} ms" if trip.seconds is not None else "-"
        changes = list(trip.changes) or ["-"]
        rows.append([label, _clip(wire, 44), size, _came_back(trip), rtt, changes[0]])
        rows.extend(["", "", "", "", "", change] for change in changes[1:])
    return rows


def to_json(trips: Sequence[RoundTrip]) -> list[dict[str, Any]]:
    return [
        {
            "sandbox": t.sandbox,
            "provider": t.provider,
            "ok": t.ok,
            "wire": {"summary": t.summary.line, "bytes": t.summary.size, "text": t.summary.text} if t.summary else None,
            "sent": t.sent.data,
            "received": t.received.to_dict() if t.received else None,
            "round_trip_ms": round(t.seconds * 1000, 3) if t.seconds is not None else None,
            "changes": list(t.changes),
            "error": f"{type(t.error).__name__}: {t.error}" if t.error else None,
        }
        for t in trips
    ]


def main(names: Sequence[str] | None, *, timeout: float, as_json: bool, out: TextIO) -> int:
    started = time.perf_counter()
    trips = run(names, timeout=timeout)
    if as_json:
        out.write(json.dumps(to_json(trips), ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        sent = json.dumps(DEMO_DATA, ensure_ascii=False, separators=(",", ":"))
        out.write(f"sent {DEMO_EVENT} {sent} through each provider to its emulator on 127.0.0.1\n\n")
        write_table(table(trips), out)
        failed = [t for t in trips if not t.ok]
        out.write(
            f"\n{len(trips) - len(failed)} of {len(trips)} round trips ok in {time.perf_counter() - started:.1f} s"
            " (emulators started and stopped included)\n"
        )
    return 1 if any(not t.ok for t in trips) else 0
