"""Plain-text tables for the CLI and the demo (their one shared helper, so neither imports the other)."""

from __future__ import annotations

from typing import TextIO


def write_table(rows: list[list[str]], out: TextIO) -> None:
    """``rows[0]`` is the header; columns are padded to their widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
