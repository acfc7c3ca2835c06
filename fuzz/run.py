"""Fuzz every decoder and encoder validation: ``python fuzz/run.py [--inputs N] [--decoder NAME]``.

Prints decoder / inputs / unhandled exceptions / seconds, and the first few
findings with the input that caused them (replay with the same ``--seed``).
Exits 1 when anything went unhandled. The target is 0.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_targets import all_targets, generate, run_one


def main(argv: list[str] | None = None) -> int:
    targets = all_targets()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="generated inputs per decoder")
    parser.add_argument("--decoder", action="append", choices=sorted(targets), help="only these (repeatable)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed replays the same inputs")
    parser.add_argument("--show", type=int, default=3, help="findings to print per decoder")
    args = parser.parse_args(argv)
    chosen = args.decoder or list(targets)
    print(f"{'decoder':<24} {'inputs':>8} {'unhandled':>10} {'seconds':>8}")
    total = 0
    findings: list[tuple[str, bytes, BaseException]] = []
    for name in chosen:
        target = targets[name]
        rng = random.Random(f"{args.seed}:{name}")
        unhandled = 0
        started = time.perf_counter()
        for _ in range(args.inputs):
            data = generate(target, rng)
            exc = run_one(target, data, rng)
            if exc is not None:
                unhandled += 1
                if sum(1 for f in findings if f[0] == name) < args.show:
                    findings.append((name, data, exc))
        seconds = time.perf_counter() - started
        total += unhandled
        print(f"{name:<24} {args.inputs:>8} {unhandled:>10} {seconds:>8.1f}", flush=True)
    for name, data, exc in findings:
        print(f"\n{name}: {type(exc).__name__}: {exc}\n  input: {data[:300]!r}")
        traceback.print_exception(exc, limit=-3, file=sys.stdout)
    print(f"\ntotal unhandled: {total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
