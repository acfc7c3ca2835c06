"""Instruction counts per operation under callgrind: pure-CPU comparisons that noise cannot move.

    .venv/bin/python benchmarks/callgrind.py                 # this tree
    .venv/bin/python benchmarks/callgrind.py --ref main      # this tree and the sources of a git ref

Wall-clock figures on a shared 2-core machine drift; the number of instructions
CPython executes for the same work does not. Each workload runs twice under
``valgrind --tool=callgrind`` (N and 2N operations) and the difference divided by
N is the cost of one operation, start-up and imports cancelled out. ``--ref``
extracts that git ref's ``eventkit`` and ``plugins`` (``git archive``) into a
temporary directory and measures them the same way, first on ``sys.path``.

Needs valgrind (Debian: ``apt-get install valgrind``); without it this says so and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKLOAD = r"""
import gc
import sys
sys.path.insert(0, {bench!r})
import run
kind, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "payload":
    import eventkit
    spec = run.HTTP_CASES["stream"]
    kit = eventkit.connect("stream", **spec["settings"]("http://127.0.0.1:9"), environ={{}})
    data = run.payload(run.SIZES[size])
    def one():
        event = kit.make_event("friendship_request", data, to=spec["to"], sender=spec["sender"])
        kit.codec.encode(event, kit.prepare(event))
    for _ in range(20):
        one()
    gc.disable()  # a full collection landing in one run and not the other would swamp the difference
    for _ in range(count):
        one()
elif kind == "ami_decode":
    try:
        from eventkit_asterisk._codec_ami import decode_user_event
    except ImportError:  # before the plugin layout of issue 18
        from eventkit_asterisk._ami_codec import decode_user_event
    from eventkit_asterisk._frames import AmiParser
    parser = AmiParser()
    for frame in parser.feed(run.AMI_FRAME * 20):
        decode_user_event(frame)
    data = run.AMI_FRAME * count
    gc.disable()
    for frame in parser.feed(data):
        decode_user_event(frame)
elif kind == "webhook":
    # One signed Stream webhook per request through the ASGI app, called directly with the
    # scope, receive and send uvicorn would pass (no server, no socket). "bare" is the
    # reference app of the wrk case; both sides build the same distinct bodies and headers,
    # so receiver minus bare is eventkit's own work per request.
    import asyncio
    import _webhook_server as server
    app, path = (server.bare, "/") if size == "bare" else (server.receiver(), "/webhooks/stream")
    items = run.signed_webhooks(server.SECRET, 20 + count)
    async def send(message):
        pass
    async def drive(batch, start):
        for n, (signature, body) in enumerate(batch, start):
            message = {{"type": "http.request", "body": body, "more_body": False}}
            async def receive(message=message):
                return message
            scope = {{
                "type": "http", "asgi": {{"version": "3.0", "spec_version": "2.3"}}, "http_version": "1.1",
                "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http",
                "method": "POST", "root_path": "", "path": path, "raw_path": path.encode(),
                "query_string": b"", "state": {{}},
                "headers": [
                    (b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"), (b"x-api-key", b"bench-key"),
                    (b"x-signature", signature.encode()), (b"x-webhook-id", f"wh-{{n}}".encode()),
                ],
            }}
            await app(scope, receive, send)
    async def main():
        await drive(items[:20], 0)
        gc.disable()
        await drive(items[20:], 20)
    asyncio.run(main())
elif kind == "ami_reference":
    parse = {{"split": run._split_parser, "panoramisk": run._panoramisk_parser}}[size]
    parse([run.AMI_FRAME * 20])
    data = run.AMI_FRAME * count
    gc.disable()
    assert parse([data]) == count
"""

CASES = [
    ("payload", "100B"),
    ("payload", "1KiB"),
    ("payload", "4KiB"),
    ("ami_decode", "-"),
    ("webhook", "receiver"),
    ("webhook", "bare"),
    ("ami_reference", "split"),
    ("ami_reference", "panoramisk"),
]
UNITS = {
    "payload": "instr/event",
    "ami_decode": "instr/frame",
    "ami_reference": "instr/frame",
    "webhook": "instr/request",
}
"""``ami_reference`` runs a reference parser of ``run.py`` on the same frames (the same in every
tree): ``split``, and ``panoramisk`` when it is installed."""


def instructions(script: Path, paths: list[str], kind: str, size: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONHASHSEED": "0"}
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(script),
                kind,
                size,
                str(count),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        summary = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)
        assert summary, "no totals in the callgrind output"
        return int(summary.group(1))


def per_operation(script: Path, paths: list[str], kind: str, size: str, count: int) -> float:
    # Once outside valgrind first: compiling .pyc files must not land in one of the two runs.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    subprocess.run([sys.executable, str(script), kind, size, "1"], env=env, check=True)
    return (instructions(script, paths, kind, size, 2 * count) - instructions(script, paths, kind, size, count)) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", help="also measure this git ref's sources (e.g. main)")
    parser.add_argument("--count", type=int, default=500, help="operations in the shorter run")
    parser.add_argument("cases", nargs="*", help="workloads to run (payload, ami_decode, webhook); default all")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind not installed (Debian: apt-get install valgrind): nothing measured")
        return 0
    trees: dict[str, list[str]] = {"this tree": [str(ROOT), str(ROOT / "plugins")]}
    with tempfile.TemporaryDirectory() as tmp:
        if args.ref:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.ref, "eventkit", "plugins"], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            trees[args.ref] = [tmp, str(Path(tmp) / "plugins")]
        scripts = Path(tmp) / "workload"  # apart from the ref's tree: a script's directory leads sys.path
        scripts.mkdir()
        script = scripts / "workload.py"
        script.write_text(WORKLOAD.format(bench=str(HERE)))
        print(f"{'workload':<26}" + "".join(f"{name:>16}" for name in trees) + ("   ratio" if args.ref else ""))
        for kind, size in CASES:
            if args.cases and kind not in args.cases:
                continue
            if size == "panoramisk" and importlib.util.find_spec("panoramisk") is None:
                print(f"{kind + ' ' + size:<26}   skipped: panoramisk not installed (pip install panoramisk)")
                continue
            counts = [per_operation(script, paths, kind, size, args.count) for paths in trees.values()]
            unit = UNITS[kind]
            line = f"{kind + ' ' + size:<26}" + "".join(f"{c:16,.0f}" for c in counts)
            if args.ref:
                line += f"   {counts[0] / counts[1]:.2f}x"
            print(line + f"   ({unit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
