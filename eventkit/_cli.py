"""The ``eventkit`` command line: providers, send, listen, check, demo, conformance, outbox, dead-letters.

Every failure is one line on stderr and a non-zero exit code: 2 for bad input
(usage, settings, validation), 1 for a failed send or listen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._errors import ConfigurationError, EventkitError, ValidationError

EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, like every other bad input
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _settings(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise _UsageError(f"--set needs KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def _data(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    from ._json import parse_object

    try:
        return parse_object(text, "--data")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventkit", description="Send and receive custom events on communication platforms.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("providers", help="installed providers, their capabilities, and load failures")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--settings", action="store_true", help="also list each provider's settings")

    p = sub.add_parser("send", help="send one event and print the result as JSON")
    p.add_argument("provider", metavar="PROVIDER_OR_URL")
    p.add_argument("--to", required=True, metavar="TARGET")
    p.add_argument("--name", required=True)
    p.add_argument("--data", metavar="JSON", help="a JSON object (default {})")
    p.add_argument("--sender", metavar="ID")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings")
    p.add_argument("--store", metavar="URL", help="store URL (with --outbox: where the event waits)")
    p.add_argument("--outbox", action="store_true", help="store the event first, try once, exit 0 if it must wait")

    p = sub.add_parser("listen", help="print one JSON line per received event")
    p.add_argument("provider", metavar="PROVIDER_OR_URL")
    p.add_argument("--name", action="append", dest="names", metavar="NAME", help="only these names (repeatable)")
    p.add_argument("--via", help="listen mode (default: the provider's first)")
    p.add_argument("--host", default="127.0.0.1", help="webhook server address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="webhook server port (default 8080)")
    p.add_argument("--count", type=int, help="stop after this many events")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings")
    p.add_argument("--store", metavar="URL", help="store URL: a restarted listen with the same store resumes")
    p.add_argument("--group", default="default", help="consumer group (default 'default')")
    p.add_argument("--consumer", metavar="NAME", help="consumer name (default: the host name)")

    p = sub.add_parser("check", help="which providers accept this event at this target, and why not")
    p.add_argument("--to", required=True, metavar="TARGET")
    p.add_argument("--name", required=True)
    p.add_argument("--data", metavar="JSON")
    p.add_argument("--sender", metavar="ID")
    p.add_argument("--provider", action="append", dest="providers", metavar="P")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", help="send one event through every vendor's emulator and back; print what happened")
    p.add_argument(
        "--provider",
        action="append",
        dest="sandboxes",
        metavar="NAME",
        help="only these (repeatable): signalwire, asterisk-ami, asterisk-ari, stream, vonage",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per provider (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output, wire text included")

    p = sub.add_parser("conformance", help="run the conformance suite against a provider plugin (needs pytest)")
    p.add_argument("provider", metavar="PROVIDER")
    p.add_argument(
        "--harness",
        metavar="MODULE:CLASS",
        help="the plugin's conformance Harness (default for built-ins: eventkit's own sandbox)",
    )
    p.epilog = "Arguments after -- go to pytest as they are, e.g. eventkit conformance acme -- -x -k round_trip"

    from ._cli_store import add_arguments

    add_arguments(sub)

    # bridge (issue 14 item 3): its options live in _cli_bridge
    from ._cli_bridge import add_arguments as add_bridge_arguments

    add_bridge_arguments(sub)
    return parser


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def cmd_providers(args: argparse.Namespace, out: TextIO) -> int:
    from . import _registry
    from ._settings import describe

    loaded, failures = _registry.load_all()
    if args.json:
        payload = {
            "providers": {
                name: {
                    **cls.capabilities.to_dict(),
                    **({"settings": describe(cls.Settings, name)} if args.settings else {}),
                }
                for name, cls in loaded.items()
            },
            "failures": [{"name": f.name, "entry_point": f.value, "error": f.error} for f in failures],
        }
        out.write(json.dumps(payload, indent=2, default=str) + "\n")
        return EXIT_FAILED if failures else 0
    rows = [["provider", "targets", "listen", "payload"]]
    for name, cls in loaded.items():
        caps = cls.capabilities
        rows.append(
            [
                name,
                ", ".join(f.form for f in caps.targets),
                ", ".join(m.value for m in caps.listen) or "-",
                caps.payload.value,
            ]
        )
    _table(rows, out)
    if args.settings:
        for name, cls in loaded.items():
            out.write(f"\n{name} settings:\n")
            for row in describe(cls.Settings, name):
                flags = " (required)" if row["required"] else ""
                flags += " (secret)" if row["secret"] else ""
                out.write(f"  {row['name']}{flags}: {row['help']} [env: {', '.join(row['env'])}]\n")
    for failure in failures:
        out.write(f"\nfailed to load: {failure.error}\n")
    return EXIT_FAILED if failures else 0


def cmd_send(args: argparse.Namespace, out: TextIO) -> int:
    from ._client import connect

    data = _data(args.data)
    settings = _settings(args.settings)
    if args.outbox:
        if not args.store:
            raise _UsageError("eventkit send: --outbox needs --store URL (a durable store)")
        from ._cli_store import send_through_outbox

        return send_through_outbox(args, data, settings, out)
    if args.store:
        settings["store"] = args.store
    with connect(args.provider, **settings) as kit:
        ev = kit.make_event(args.name, data, to=args.to, sender=args.sender)
        kit.prepare(ev)
        (result,) = kit.send_many([ev], concurrency=1)
    out.write(json.dumps(result.to_dict(), default=str) + "\n")
    if result.error is not None:
        raise result.error
    return 0


def cmd_listen(args: argparse.Namespace, out: TextIO) -> int:
    from ._capabilities import ListenMode
    from ._client import connect_async
    from ._json import has_surrogate

    settings = _settings(args.settings)
    if args.store:
        settings["store"] = args.store

    async def run() -> None:
        async with connect_async(args.provider, **settings) as kit:
            context_modes = kit.provider.capabilities.listen
            via = ListenMode(args.via) if args.via else (context_modes[0] if context_modes else None)
            options: dict[str, Any] = {
                "on_ready": lambda address: print(f"listening: {address}", file=sys.stderr, flush=True)
            }
            if via is ListenMode.WEBHOOK:
                options.update(host=args.host, port=args.port)
            options.update(group=args.group)
            if args.consumer:
                options.update(consumer=args.consumer)
            seen = 0
            # A line printed and flushed counts as handled: the event is acknowledged when the
            # next one is asked for, or right after the flush for the last one (--count).
            async for event in kit.listen(args.names, via=via, **options):
                line = json.dumps(event.to_dict(), ensure_ascii=False, default=str)
                if has_surrogate(line):  # a peer's "\\ud800" escape: printable only escaped
                    line = json.dumps(event.to_dict(), default=str)
                out.write(line + "\n")
                out.flush()
                seen += 1
                if args.count is not None and seen >= args.count:
                    if event.delivery is not None:
                        await event.delivery.ack()
                    return

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from ._check import check

    report = check(args.name, _data(args.data), to=args.to, sender=args.sender, providers=args.providers)
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        rows = [["provider", "accepts", "why not"]]
        for verdict in report.verdicts:
            why = verdict.error or "; ".join(str(v) for v in verdict.violations)
            rows.append([verdict.provider, "yes" if verdict.accepted else "no", why or "-"])
        _table(rows, out)
    return 0 if report.portable else EXIT_FAILED


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from . import _demo
    from .testing.sandbox import SANDBOXES

    for name in args.sandboxes or ():
        if name not in SANDBOXES:
            raise _UsageError(f"eventkit demo: no provider {name!r}; choose from {', '.join(SANDBOXES)}")
    if args.timeout <= 0:
        raise _UsageError("eventkit demo: --timeout must be positive")
    return _demo.main(args.sandboxes, timeout=args.timeout, as_json=args.json, out=out)


def cmd_conformance(args: argparse.Namespace, out: TextIO) -> int:
    from .testing.runner import run_conformance

    return run_conformance(args.provider, args.harness, list(args.pytest_args))


def cmd_outbox(args: argparse.Namespace, out: TextIO) -> int:
    from ._cli_store import cmd_outbox as run

    return run(args, out, _settings(args.settings))


def cmd_dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    from ._cli_store import cmd_dead_letters as run

    return run(args, out)


# bridge (issue 14 item 3)
def cmd_bridge(args: argparse.Namespace, out: TextIO) -> int:
    from ._cli_bridge import cmd_bridge as run

    return run(args, out, _settings(args.settings))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; for ``conformance``, everything after ``--`` is pytest's."""
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if argv[:1] == ["conformance"] and "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    args.pytest_args = rest
    return args


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        args = _parse(argv)
        logging.basicConfig(
            level={0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG),
            format="%(levelname)s %(name)s: %(message)s",
        )
        if args.verbose < 2:  # load failures are reported by eventkit itself, once
            logging.getLogger("stevedore").setLevel(logging.ERROR)
        if args.version:
            from . import __version__

            out.write(f"eventkit {__version__}\n")
            return 0
        commands = {
            "providers": cmd_providers,
            "send": cmd_send,
            "listen": cmd_listen,
            "check": cmd_check,
            "demo": cmd_demo,
            "conformance": cmd_conformance,
            "outbox": cmd_outbox,
            "dead-letters": cmd_dead_letters,
            "bridge": cmd_bridge,
        }
        if args.command is None:
            build_parser().print_help(out)
            return EXIT_USAGE
        return commands[args.command](args, out)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except (ConfigurationError, ValidationError) as exc:
        print(f"eventkit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EventkitError as exc:
        print(f"eventkit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
