"""The ``detour`` command. Argument handling only; the work lives in the packages.

Exit codes: 0 ok, 1 runtime failure, 2 usage error. A user error is one line
saying what is wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
import threading
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from daemon import keys
from daemon.budget import control as budget
from daemon.budget.journal import LedgerBusy
from daemon.config import Config, ConfigError, default_path, ensure_default, load

log = logging.getLogger("detour")


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"detour: {e}", file=sys.stderr)
        return 2
    except (ConfigError, keys.KeyringUnavailable, budget.Unreachable, LedgerBusy) as e:
        print(f"detour: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="detour", description="A local LLM gateway with failover.")
    sub = p.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the daemon in the foreground")
    serve.add_argument("--config", help="config file (default: the platform's config dir, or $DETOUR_CONFIG)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides the config)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(func=_serve)

    k = sub.add_parser("keys", help="provider API keys in the OS keyring")
    ksub = k.add_subparsers(metavar="ACTION")
    kset = ksub.add_parser("set", help="store a provider's key (input hidden)")
    kset.add_argument("provider")
    kset.add_argument("--stdin", action="store_true", help="read the key from standard input")
    kset.add_argument("--config")
    kset.set_defaults(func=_keys_set)
    klist = ksub.add_parser("list", help="which providers have a key (never the key)")
    klist.add_argument("--config")
    klist.set_defaults(func=_keys_list)
    kdel = ksub.add_parser("delete", help="remove a provider's key")
    kdel.add_argument("provider")
    kdel.set_defaults(func=_keys_delete)

    b = sub.add_parser("budget", help="personal budgets: spend so far and when each resets")
    bsub = b.add_subparsers(metavar="ACTION")
    bshow = bsub.add_parser("show", help="spend, limit, remaining and reset of each budget")
    bshow.add_argument("--config")
    bshow.add_argument("--session", help="also show this session's budget")
    bshow.set_defaults(func=_budget_show)
    bset = bsub.add_parser("set", help="set limits in USD (0 blocks all spend; 'none' removes a limit)")
    bset.add_argument("--config")
    for flag in ("weekly", "daily", "session"):
        bset.add_argument(f"--{flag}", type=_usd, metavar="USD", default=argparse.SUPPRESS)
    bset.set_defaults(func=_budget_set)

    tok = sub.add_parser("token", help="print the local client token (the API key for your tools)")
    tok.set_defaults(func=_token)

    tui = sub.add_parser("tui", help="the live dashboard of the running daemon")
    tui.add_argument("--config", help="config file naming the daemon's host and port")
    tui.add_argument("--url", help="the daemon's URL (default: from the config)")
    tui.set_defaults(func=_tui)

    ctx = sub.add_parser(
        "context",
        help="pruned context for FILE[::SYMBOL]; `context add PATH` registers a project",
    )
    ctx.add_argument("target", metavar="FILE[::SYMBOL] | add", help="what to show, or `add`")
    ctx.add_argument("path", nargs="?", help="with `add`: the project root to register")
    ctx.add_argument("--budget", type=int, default=3000, metavar="TOKENS", help="at most this many tokens")
    ctx.add_argument("--root", help="the project root (default: the registered project holding FILE)")
    ctx.add_argument("--config")
    ctx.set_defaults(func=_context)

    mcp = sub.add_parser("mcp", help="MCP server over stdio (get_context, find_symbol, outline)")
    mcp.add_argument("--root", help="the project root relative paths are in (default: the working directory)")
    mcp.add_argument("--config", help="config file naming the daemon's host and port")
    mcp.add_argument("--url", help="the daemon's URL (default: from the config)")
    mcp.set_defaults(func=_mcp)

    demo = sub.add_parser("demo", help="daemon + dashboard on simulated providers with injected faults")
    demo.add_argument(
        "--no-tui", action="store_true", help="only run the daemon and its traffic; print the URL and token"
    )
    demo.set_defaults(func=_demo)
    return p


def _config(path_arg: str | None) -> Config:
    path = Path(path_arg) if path_arg else default_path()
    if ensure_default(path):
        print(f"detour: wrote a commented default config to {path}", file=sys.stderr)
    return load(path)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _config(args.config)
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise UsageError(f"--port {args.port} is out of range 0-65535")
        config = replace(config, server=replace(config.server, port=args.port))
    if not keys.keyring_usable():
        log.warning(
            "no OS keyring backend found: provider keys can come only from api_key_env "
            "variables, and the client token is kept in a 0600 file"
        )
    token = keys.client_token()
    _run(_serve_forever(config, token))
    return 0


async def _serve_forever(config: Config, token: str) -> None:
    from aiohttp import web

    from daemon.server.app import create_app

    runner = web.AppRunner(create_app(config, token), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise ConfigError(
            config.path, None, f"cannot listen on {config.server.host}:{config.server.port}: {e.strerror}"
        ) from None
    port = runner.addresses[0][1]
    log.info("detour serving on http://%s:%s (config %s)", config.server.host, port, config.path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("detour stopping")
    await runner.cleanup()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def _keys_set(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if args.provider not in config.providers:
        raise UsageError(
            f"no provider {args.provider!r} in {config.path}; configured: {', '.join(config.providers)}"
        )
    if args.stdin:
        value = sys.stdin.readline().strip()
    else:
        value = getpass.getpass(f"API key for {args.provider}: ").strip()
    if not value:
        raise UsageError("empty key; nothing stored")
    keys.set_key(args.provider, value)
    print(f"stored the key for {args.provider} in the OS keyring")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    config = _config(args.config)
    for pid, p in config.providers.items():
        if p.kind == "sim":
            state = "no key needed (simulated)"
        elif keys.has_key(p):
            state = "key set" + (f" (from ${p.api_key_env})" if p.api_key_env else "")
        else:
            state = "no key"
        print(f"{pid:<16} {p.kind:<18} {state}")
    return 0


def _keys_delete(args: argparse.Namespace) -> int:
    if keys.delete_key(args.provider):
        print(f"deleted the key for {args.provider}")
        return 0
    print(f"detour: no key stored for {args.provider}", file=sys.stderr)
    return 1


def _usd(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a budget cannot be negative")
    return value


def _budget_set(args: argparse.Namespace) -> int:
    given = {k: getattr(args, k) for k in ("weekly", "daily", "session") if hasattr(args, k)}
    if not given:
        raise UsageError("give at least one of --weekly, --daily, --session (USD, or 'none')")
    config = _config(args.config)
    body = {f"{k}_usd": v for k, v in given.items()}
    report = budget.set_limits(config, body)
    _print_budget(report)
    return 0


def _budget_show(args: argparse.Namespace) -> int:
    _print_budget(budget.show(_config(args.config), args.session))
    return 0


def _print_budget(report: dict[str, Any]) -> None:
    print(f"{'budget':<9}{'spent':>11}{'limit':>11}{'remaining':>11}  resets")
    for scope, b in report["budgets"].items():
        limit = "-" if b["limit_usd"] is None else f"${b['limit_usd']:.2f}"
        left = "-" if b["remaining_usd"] is None else f"${b['remaining_usd']:.4f}"
        resets = b["resets_at"] or "when the session ends"
        print(f"{scope:<9}{'$' + format(b['spent_usd'], '.4f'):>11}{limit:>11}{left:>11}  {resets}")
    if report["top_models_week"]:
        print("\ntop models this week:")
        for m in report["top_models_week"]:
            print(f"  {m['provider'] + '/' + m['model']:<40}${m['usd']:.4f}  ({m['attempts']} attempts)")
    if report.get("offline"):
        print("\n(the daemon is not running: read from the ledger directly)")


def _token(args: argparse.Namespace) -> int:
    print(keys.client_token())
    return 0


def _tui(args: argparse.Namespace) -> int:
    url = args.url or _config(args.config).server.url
    token = keys.client_token()
    # Imported here: the daemon itself never loads Textual.
    from tui.app import run

    run(url, token)
    return 0


def _context(args: argparse.Namespace) -> int:
    from daemon.context import cli as context_cli

    config = _config(args.config)
    try:
        if args.target == "add":
            if not args.path:
                raise UsageError("`detour context add PATH`: name the project root")
            print(context_cli.add(config, Path(args.path)))
        else:
            if args.path:
                raise UsageError("one target at a time: FILE or FILE::SYMBOL")
            print(asyncio.run(context_cli.show(config, args.target, args.budget, args.root)))
    except context_cli.DaemonError as e:
        print(f"detour: {e}", file=sys.stderr)
        return 1
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from daemon.context.client import ContextClient
    from daemon.context.mcp_server import run

    url = args.url or _config(args.config).server.url
    root = str(Path(args.root or Path.cwd()).resolve())
    asyncio.run(run(ContextClient(url, keys.client_token(), root)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    import tempfile

    from daemon.demo import Demo

    with tempfile.TemporaryDirectory(prefix="detour-demo-") as tmp:
        # The daemon's warnings would draw over the dashboard: they go to a file instead.
        handler = logging.FileHandler(Path(tmp) / "daemon.log")
        logging.basicConfig(level=logging.INFO, handlers=[handler])
        demo = Demo(Path(tmp))
        url = demo.start()
        try:
            if args.no_tui:
                print(f"demo daemon on {url}\ntoken {demo.token}\nlog {handler.baseFilename}")
                print("Ctrl-C stops it", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
            else:
                from tui.app import run

                run(url, demo.token)
        finally:
            demo.stop()
            handler.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
