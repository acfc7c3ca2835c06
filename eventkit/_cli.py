"""The ``eventkit`` command line: providers, send, listen, check, demo, conformance.

Every failure is one line on stderr (secrets masked) and a documented exit code
(:data:`EXIT_CODES`, also in ``--help`` and docs/cli.md). ``-v``/``-q`` and
``--log-format`` are global and may come before or after the subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._errors import ConfigurationError, EventkitError, ValidationError
from ._json import has_surrogate
from ._logging import LOG_FORMATS
from ._table import write_table

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

EXIT_CODES = {
    EXIT_OK: "success; for listen, also a clean stop on SIGTERM/SIGINT or after --count events",
    EXIT_FAILED: "the platform refused or could not be reached, a listener gave up (max_outage), "
    "the listen address is in use, or check found a provider that refuses the event",
    EXIT_USAGE: "bad input: usage, unknown provider or setting, bad value, invalid --port/--host/--via/--data, "
    "validation, missing credentials",
    EXIT_INTERNAL: "an unexpected error inside eventkit (a bug: -vv logs the traceback)",
}

log = logging.getLogger("eventkit.cli")


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
            # Never echo the argument: ``api_secret:VALUE`` is a secret with a typo.
            name = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", pair)
            shown = f" for {name.group(1)!r}" if name and name.group(1) != pair.strip() else ""
            raise _UsageError(
                f"eventkit: --set needs KEY=VALUE; the argument{shown} has no '=' (its value is not shown)"
            )
        out[key.strip()] = value
    return out


def _data(text: str | None) -> dict[str, Any]:
    """``--data``: a JSON object given inline, as ``@FILE`` (read as UTF-8), or as ``-`` (read from stdin).

    A JSON object always starts with ``{``, so ``@`` and ``-`` cannot be mistaken for one.
    """
    if text is None:
        return {}
    from ._json import parse_object

    where = "--data"
    if text == "-":
        where = "--data - (stdin)"
        if sys.stdin is None:  # no standard input at all (a service, pythonw)
            raise _UsageError("eventkit: --data - reads standard input, and there is none")
        text = sys.stdin.read()
    elif text.startswith("@"):
        path = text[1:]
        if not path:
            raise _UsageError("eventkit: --data @FILE needs a file name after '@'")
        where = f"--data @{path}"
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise _UsageError(f"eventkit: {where}: cannot read it: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValidationError(f"{where} is not UTF-8 text") from None
    try:
        return parse_object(text, where)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    except RecursionError:
        raise ValidationError("--data is nested too deeply to parse") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


TARGET_FORMS = (
    ("call:<id>", "SignalWire: a live call"),
    ("channel:<type>:<id>", "Stream: everyone watching a chat channel"),
    ("user:<id>", "Stream: every connection of one user"),
    ("conversation:<CON-id>", "Vonage: a conversation"),
    ("ami", "Asterisk AMI: every session reading user events"),
    ("app:<name>", "Asterisk ARI: one Stasis application (?source=channel:<id> ties it to a channel)"),
    ("topic:<name>", "memory: an in-process topic"),
    ("@route", "a route name, resolved per provider (EVENTKIT_<PROVIDER>_ROUTES or eventkit.toml)"),
)
"""The built-in providers' target forms; ``eventkit providers`` lists every installed provider's."""

ENVIRONMENT = (
    ("EVENTKIT_<PROVIDER>_<SETTING>", "any provider setting, e.g. EVENTKIT_STREAM_API_SECRET; vendors' own names"),
    ("", "work too (STREAM_API_SECRET, VONAGE_PRIVATE_KEY_PATH, ...): eventkit providers --settings"),
    ("EVENTKIT_<PROVIDER>_ROUTES", "routes for @route targets, e.g. orders=channel:messaging:orders"),
    ("EVENTKIT_CONFIG", "path of the eventkit.toml with settings and routes (default ./eventkit.toml)"),
)


def _section(title: str, rows: Sequence[tuple[str, str]], width: int = 30) -> str:
    return "\n".join([f"{title}:"] + [f"  {left:<{width}} {right}".rstrip() for left, right in rows])


def _exit_codes_epilog() -> str:
    return _section("exit codes", [(str(code), meaning) for code, meaning in EXIT_CODES.items()], width=3)


def _epilog(*parts: str) -> str:
    """The ``--help`` epilog: exit codes, then the sections the command uses."""
    sections = {
        "targets": _section("target forms (--to)", TARGET_FORMS)
        + "\n  `eventkit providers` lists the forms of every installed provider, plugins included.",
        "environment": _section("environment", ENVIRONMENT),
        "data": "--data takes a JSON object inline, @FILE (a file holding one) or - (read it from stdin).",
    }
    text = [_exit_codes_epilog(), *(sections[p] for p in parts)]
    return "\n\n".join(text) + "\n\n-v/-vv/-q and --log-format may come before or after the subcommand."


_GLOBAL_FLAGS = {"-v": 1, "--verbose": 1, "-vv": 2, "-vvv": 3, "-q": -1, "--quiet": -1}


def _split_globals(argv: list[str]) -> tuple[list[str], int, str]:
    """Take ``-v``/``-q``/``--log-format`` out of ``argv`` wherever they are (up to a ``--``)."""
    rest: list[str] = []
    verbosity = 0
    log_format = "text"
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        if arg in _GLOBAL_FLAGS:
            verbosity += _GLOBAL_FLAGS[arg]
        elif arg == "--log-format" or arg.startswith("--log-format="):
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            else:
                raise _UsageError("eventkit: --log-format needs a value: text or json")
            if value not in LOG_FORMATS:
                raise _UsageError(f"eventkit: --log-format must be text or json, not {value!r}")
            log_format = value
        else:
            rest.append(arg)
        index += 1
    return rest, verbosity, log_format


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eventkit",
        description="Send and receive custom events on communication platforms.",
        epilog=_epilog("targets", "environment", "data"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug); anywhere")
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only; anywhere")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default="text", help="text (timestamped, default) or json; anywhere"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    raw = argparse.RawDescriptionHelpFormatter
    provider_help = (
        "a provider name (eventkit providers lists them) or a URL such as stream+http://KEY:SECRET@HOST:PORT"
    )
    set_help = "a provider or transport setting, e.g. api_key=... or timeout=5 (repeatable; beats the environment)"

    p = sub.add_parser("providers", help="installed providers, their capabilities, and load failures")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--settings", action="store_true", help="also list each provider's settings")

    p = sub.add_parser(
        "send",
        help="send one event and print the result (JSON by default)",
        epilog=_epilog("targets", "environment", "data"),
        formatter_class=raw,
    )
    p.add_argument("provider", metavar="PROVIDER_OR_URL", help=provider_help)
    p.add_argument(
        "--to", required=True, metavar="TARGET", help="where the event goes: a target form or @route (below)"
    )
    p.add_argument("--name", required=True, help="the event name, e.g. OrderReady")
    p.add_argument(
        "--data", metavar="JSON|@FILE|-", help="the event data: a JSON object, @FILE or - for stdin (default {})"
    )
    p.add_argument(
        "--sender", metavar="ID", help="who sends it, where the platform has one (Stream user, Vonage member)"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings", help=set_help)
    p.add_argument(
        "--format",
        choices=("json", "human"),
        default="json",
        help="json: the SendResult as one JSON object (default); human: one readable line",
    )

    p = sub.add_parser(
        "listen",
        help="print one line per received event (JSON by default)",
        epilog=_epilog("environment"),
        formatter_class=raw,
    )
    p.add_argument("provider", metavar="PROVIDER_OR_URL", help=provider_help)
    p.add_argument("--name", action="append", dest="names", metavar="NAME", help="only these names (repeatable)")
    p.add_argument("--via", help="listen mode (default: the provider's, from the credentials given)")
    p.add_argument("--host", default="127.0.0.1", help="webhook server address (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8080, help="webhook server port (default 8080; 0 picks one)")
    p.add_argument("--count", type=int, metavar="N", help="stop after this many events (exit 0)")
    p.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, seconds requests in flight get to finish (setting shutdown_timeout, default 10)",
    )
    p.add_argument("--header-timeout", type=_seconds, metavar="SECONDS", help="webhooks: seconds for a request head")
    p.add_argument("--body-timeout", type=_seconds, metavar="SECONDS", help="webhooks: seconds for a request body")
    p.add_argument("--max-connections", type=_positive, metavar="N", help="webhooks: connections before 503")
    p.add_argument(
        "--max-buffered-bytes", type=_positive, metavar="BYTES", help="webhooks: request bytes held at once before 503"
    )
    p.add_argument(
        "--max-outage",
        type=_seconds,
        metavar="SECONDS",
        help="give up (exit 1) after failing to connect for this long (setting max_outage; default: retry forever)",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings", help=set_help)
    p.add_argument(
        "--format",
        choices=("json", "human"),
        default="json",
        help="json: one JSON object per line (default); human: one readable line per event",
    )

    p = sub.add_parser(
        "check",
        help="which providers would carry this event, where, what they change, and why not",
        epilog=_epilog("targets", "data"),
        formatter_class=raw,
    )
    p.add_argument(
        "--to",
        metavar="TARGET",
        help="narrow to one target or route (@name); without it every target kind each provider has is asked",
    )
    p.add_argument("--name", help="the event name (or give --type)")
    p.add_argument("--type", metavar="MODULE:CLASS", help="an event type (@eventkit.event) instead of --name/--data")
    p.add_argument(
        "--data", metavar="JSON|@FILE|-", help="the event data: a JSON object, @FILE or - for stdin (default {})"
    )
    p.add_argument("--sender", metavar="ID", help="the sender to check against each provider's sender rule")
    p.add_argument(
        "--provider",
        action="append",
        dest="providers",
        metavar="P",
        help="ask only this provider (repeatable; default: every installed one)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")

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
    p.add_argument("provider", metavar="PROVIDER", help="the installed provider to test, e.g. acme")
    p.add_argument(
        "--harness",
        metavar="MODULE:CLASS",
        help="the plugin's conformance Harness (default for built-ins: eventkit's own sandbox)",
    )
    p.epilog = "Arguments after -- go to pytest as they are, e.g. eventkit conformance acme -- -x -k round_trip"
    return parser


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
    write_table(rows, out)
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
    with connect(args.provider, **settings) as kit:
        ev = kit.make_event(args.name, data, to=args.to, sender=args.sender)
        kit.prepare(ev)
        (result,) = kit.send_many([ev], concurrency=1)
    if args.format == "human":
        out.write(_human_result(result) + "\n")
    else:
        out.write(json.dumps(result.to_dict(), default=str) + "\n")
    if result.error is not None:
        raise result.error
    return 0


def _printable(text: Any) -> str:
    """One line of terminal-safe text: control characters (a peer's ``\\n``, an escape sequence) shown escaped."""
    shown = str(text)
    if shown.isprintable():
        return shown
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)


def _human_result(result: Any) -> str:
    """``ok memory topic:t OrderReady id=... status=201 attempts=1 3.2 ms``, or ``failed ...: <error>``."""
    head = f"{'ok' if result.ok else 'failed'} {result.provider} {result.target} {result.event.name}"
    parts = [_printable(head)]
    if result.id is not None:
        parts.append(f"id={_printable(result.id)}")
    if result.status is not None:
        parts.append(f"status={result.status}")
    parts.append(f"attempts={result.attempts}")
    parts.append(f"{result.elapsed * 1000:.1f} ms")
    if result.possible_duplicate:
        parts.append("(possible duplicate)")
    line = " ".join(parts)
    if result.error is not None:
        from ._logging import redact

        line += ": " + redact(_printable(" ".join(f"{type(result.error).__name__}: {result.error}".split())))
    return line


def _human_event(event: Any) -> str:
    """``<time> <provider> <name> <target> [from <sender>] <data as compact JSON>``: one line whatever the peer sent."""
    parts = [event.time.isoformat().replace("+00:00", "Z"), event.provider or "-", event.name, event.target or "-"]
    if event.sender:
        parts.append(f"from {event.sender}")
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"), default=str)
    if has_surrogate(data):
        data = json.dumps(event.data, separators=(",", ":"), default=str)
    return " ".join(_printable(p) for p in [*parts, data])


def cmd_listen(args: argparse.Namespace, out: TextIO) -> int:
    from ._capabilities import ListenMode
    from ._client import connect_async

    settings = _settings(args.settings)
    if args.shutdown_timeout is not None:
        settings["shutdown_timeout"] = args.shutdown_timeout
    if args.max_outage is not None:
        settings["max_outage"] = args.max_outage
    if args.count is not None and args.count < 1:
        raise _UsageError("eventkit listen: --count must be at least 1")
    via: ListenMode | None = None
    if args.via is not None:
        try:
            via = ListenMode(args.via)
        except ValueError:
            modes = ", ".join(m.value for m in ListenMode)
            raise _UsageError(f"eventkit listen: --via must be one of {modes}, not {args.via!r}") from None

    async def run() -> None:
        stop = asyncio.Event()
        signals = _catch_stop_signals(stop)
        try:
            async with connect_async(args.provider, **settings) as kit:
                mode = via or kit.provider.default_listen_mode()
                options: dict[str, Any] = {
                    "on_ready": lambda address: print(f"listening: {address}", file=sys.stderr, flush=True)
                }
                server_options = {f: getattr(args, f) for f in _SERVER_FLAGS if getattr(args, f) is not None}
                if mode is ListenMode.WEBHOOK:
                    # The server drains on stop and the listener ends by itself after handing
                    # over what was acknowledged meanwhile: no 2xx'd event is left unprinted.
                    options.update(host=args.host, port=args.port, stop=stop, **server_options)
                elif server_options:
                    raise _UsageError("eventkit listen: the webhook server options need --via webhook")
                events: Any = kit.listen(args.names, via=mode, **options)
                async with contextlib.aclosing(events):  # closed here, not by asyncio.run's finaliser
                    seen = 0
                    while args.count is None or seen < args.count:
                        event = await _next_or_stop(events, None if mode is ListenMode.WEBHOOK else stop)
                        if event is None:
                            break
                        if args.format == "human":
                            line = _human_event(event)
                        else:
                            line = json.dumps(event.to_dict(), ensure_ascii=False, default=str)
                            if has_surrogate(line):  # a peer's "\\ud800" escape: printable only escaped
                                line = json.dumps(event.to_dict(), default=str)
                        out.write(line + "\n")
                        out.flush()
                        seen += 1
        finally:
            for sig in signals:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_signal_handler(sig)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # a second Ctrl-C forces the way out
        pass
    return 0


_SERVER_FLAGS = ("header_timeout", "body_timeout", "max_connections", "max_buffered_bytes")


def _catch_stop_signals(stop: asyncio.Event) -> list[int]:
    """SIGTERM and SIGINT start a graceful stop; the handlers come off at once, so a second one forces."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def on_signal(sig: int) -> None:
        print(f"stopping: {signal.Signals(sig).name}", file=sys.stderr, flush=True)
        for each in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(each)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            continue
        installed.append(sig)
    return installed


async def _next_or_stop(events: Any, stop: asyncio.Event | None) -> Any:
    """The next event, or ``None`` once the source ends or a stop is asked for.

    On a stop the pending read is cancelled, which unwinds a socket listener
    (its connection closes). Without ``stop`` the source ends by itself.
    """
    if stop is None:
        try:
            return await events.__anext__()
        except StopAsyncIteration:
            return None
    if stop.is_set():
        return None
    nxt = asyncio.ensure_future(events.__anext__())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if nxt.done():
        try:
            return nxt.result()
        except StopAsyncIteration:
            return None
    nxt.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await nxt
    return None


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from ._check import check

    if args.type is not None:
        from ._typed_check import cli_check_type

        if args.name or args.data or args.sender:
            raise _UsageError("eventkit check: --type replaces --name, --data and --sender")
        return cli_check_type(args.type, args.to, args.providers, args.json, out)
    if not args.name:
        raise _UsageError("eventkit check: give --name (or --type MODULE:CLASS)")
    report = check(args.name, _data(args.data), to=args.to, sender=args.sender, providers=args.providers)
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        rows = [["provider", "accepts", "where", "why not / what changes"]]
        for verdict in report.verdicts:
            where = verdict.target or ", ".join(verdict.accepted_kinds) or "-"
            why = verdict.error or "; ".join(str(v) for v in verdict.violations) or "; ".join(verdict.changes)
            rows.append([verdict.provider, "yes" if verdict.accepted else "no", where, why or "-"])
        write_table(rows, out)
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


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; global flags may be anywhere; for ``conformance``, everything after ``--`` is pytest's."""
    argv, verbosity, log_format = _split_globals(list(sys.argv[1:] if argv is None else argv))
    rest: list[str] = []
    if argv[:1] == ["conformance"] and "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    args.verbose = verbosity
    args.log_format = log_format
    args.pytest_args = rest
    return args


def _level(verbosity: int) -> int:
    if verbosity < 0:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)


def _one_line(exc: BaseException) -> str:
    from ._logging import redact

    text = " ".join(str(exc).split())  # one line, whatever the message held
    return redact(f"eventkit: {type(exc).__name__}: {text}" if text else f"eventkit: {type(exc).__name__}")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    root = logging.getLogger()
    level_before = root.level
    handler: logging.Handler | None = None
    try:
        args = _parse(argv)
        from ._logging import configure

        handler = configure(_level(args.verbose), args.log_format)
        logging.getLogger("stevedore").setLevel(logging.DEBUG if args.verbose >= 2 else logging.ERROR)
        if args.verbose < 2:  # uvicorn's own lines are noise unless debugging
            logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
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
        }
        if args.command is None:
            build_parser().print_help(out)
            return EXIT_USAGE
        return commands[args.command](args, out)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except (ConfigurationError, ValidationError) as exc:
        print(_one_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except EventkitError as exc:
        print(_one_line(exc), file=sys.stderr)
        return EXIT_FAILED
    except RecursionError:
        print("eventkit: input nested too deeply", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line for the operator, the traceback at -vv
        log.debug("unexpected error", exc_info=True)
        print(_one_line(exc) + " (an eventkit bug; -vv shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:  # main() may run inside another program (tests): leave its logging as it was
        if handler is not None:
            root.removeHandler(handler)
            root.setLevel(level_before)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
