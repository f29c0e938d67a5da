"""The ``detour`` command. Argument handling only; the work lives in the packages.

Exit codes: 0 ok, 1 runtime failure, 2 usage error. A user error is one line
saying what is wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import platformdirs

from daemon import keys, private
from daemon.budget import command as budget
from daemon.budget.accounts import SCOPE_WORDS
from daemon.budget.journal import LedgerBusy
from daemon.config import APP, Config, ConfigError, ServerConfig, default_path, ensure_default, load
from daemon.server.instance import AlreadyRunning
from daemon.tasks import spawn, stop_all

if TYPE_CHECKING:
    from daemon.server.instance import InstanceLock

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
    except (ConfigError, keys.KeyringUnavailable, budget.Unreachable, LedgerBusy, AlreadyRunning) as e:
        print(f"detour: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="detour", description="A local LLM gateway with failover.")
    p.add_argument("--version", action="version", version=f"detour {_version()}")
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
    for flag in reversed(SCOPE_WORDS.values()):
        bset.add_argument(f"--{flag}", type=_usd, metavar="USD", default=argparse.SUPPRESS)
    bset.set_defaults(func=_budget_set)

    st = sub.add_parser("status", help="one-shot health, spend and provider state of the running daemon")
    st.add_argument("--config", help="config file naming the daemon's host and port")
    st.add_argument("--url", help="the daemon's URL (default: from the config)")
    st.add_argument("--json", action="store_true", help="the daemon's /status JSON as it is")
    st.set_defaults(func=_status)

    svc = sub.add_parser("service", help="start detour with your session (systemd --user, launchd, Windows)")
    svc.add_argument("action", choices=["install", "uninstall", "status"])
    svc.add_argument("--dry-run", action="store_true", help="print the files and commands, change nothing")
    svc.add_argument("--platform", choices=["systemd", "launchd", "windows"], help="default: this machine's")
    svc.add_argument("--no-tray", action="store_true", help="leave the tray icon out")
    svc.set_defaults(func=_service)

    tok = sub.add_parser("token", help="print the local client token (the API key for your tools)")
    tok.set_defaults(func=_token)

    rep = sub.add_parser("report", help="the recovery report: coverage, cost per recovery, latency per path")
    rep.add_argument("--window", default="day", help="day, week, or YYYY-MM-DD..YYYY-MM-DD (default: day)")
    rep.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with charts")
    rep.add_argument("--team", action="store_true", help="every member's requests (team mode)")
    rep.add_argument("--config")
    rep.set_defaults(func=_report)

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
    tray = sub.add_parser("tray", help="the system-tray icon and menu (extra detour-gateway[tray])")
    tray.add_argument("--config", help="config file naming the daemon's host and port")
    tray.add_argument("--url", help="the daemon's URL (default: from the config)")
    tray.set_defaults(func=_tray)

    demo = sub.add_parser("demo", help="daemon + dashboard on simulated providers with injected faults")
    demo.add_argument(
        "--no-tui", action="store_true", help="only run the daemon and its traffic; print the URL and token"
    )
    demo.set_defaults(func=_demo)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("detour-gateway")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0+source"


def _config(path_arg: str | None) -> Config:
    path = Path(path_arg) if path_arg else default_path()
    if ensure_default(path):
        print(f"detour: wrote a commented default config to {path}", file=sys.stderr)
    return load(path)


def _serve(args: argparse.Namespace) -> int:
    from daemon.server.instance import InstanceLock

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _config(args.config)
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise UsageError(f"--port {args.port} is out of range 0-65535")
        config = replace(config, server=replace(config.server, port=args.port))
    os.umask(private.UMASK)  # whatever the daemon or a library it uses creates is the user's alone
    lock = InstanceLock(Path(platformdirs.user_data_dir(APP)))
    lock.acquire()
    try:
        if not keys.keyring_usable():
            log.warning(
                "no OS keyring backend found: provider keys can come only from api_key_env "
                "variables, and the client token is kept in a 0600 file"
            )
        token = keys.client_token()
        _run(_serve_forever(config, token, lock))
    finally:
        lock.release()
    return 0


async def _serve_forever(config: Config, token: str, lock: InstanceLock) -> None:
    from aiohttp import web

    from daemon.server.app import create_app
    from daemon.server.drain import DRAIN

    app = create_app(config, token)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        await _port_taken(config, e)
    port = runner.addresses[0][1]
    url = replace(config.server, port=port).url
    lock.announce(url)
    log.info("detour serving on %s (PID %d, config %s)", url, os.getpid(), config.path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("detour stopping: no new connections")
    for s in list(runner.sites):
        await s.stop()
    # A second signal while draining stops waiting.
    drained = spawn(app[DRAIN].finish(config.server.drain_s), name="detour-drain")
    stop.clear()
    again = spawn(stop.wait(), name="detour-second-signal")
    await asyncio.wait({drained, again}, return_when=asyncio.FIRST_COMPLETED)
    if not drained.done():
        log.warning("second signal: cutting the requests in flight now")
        await stop_all([drained])
        await app[DRAIN].finish(0)
    await stop_all([again])
    await runner.cleanup()  # closes the event streams, then flushes and closes the ledger
    log.info("detour stopped")


async def _port_taken(config: Config, e: OSError) -> NoReturn:
    from daemon.server.instance import AlreadyRunning, holder_of

    pid = await asyncio.to_thread(holder_of, config.server.url)
    if pid is not None:
        raise AlreadyRunning(
            f"detour is already running on {config.server.url} (PID {pid}); "
            "stop it first, or start this one with --port N"
        )
    raise ConfigError(
        config.path, None, f"cannot listen on {config.server.host}:{config.server.port}: {e.strerror}"
    ) from None


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def _keys_set(args: argparse.Namespace) -> int:
    from daemon.team.database import KEYRING_NAME as TEAM_DATABASE

    config = _config(args.config)
    if args.provider == TEAM_DATABASE:  # the team database's postgresql:// URL, password and all
        value = sys.stdin.readline().strip() if args.stdin else getpass.getpass("team database URL: ").strip()
        if not value.startswith(("postgresql://", "postgres://")):
            raise UsageError("the team database is a postgresql:// URL; nothing stored")
        keys.set_key(TEAM_DATABASE, value)
        print("stored the team database URL in the OS keyring")
        return 0
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
    given = {k: getattr(args, k) for k in reversed(SCOPE_WORDS.values()) if hasattr(args, k)}
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


def _report(args: argparse.Namespace) -> int:
    from daemon.report import command

    config = _config(args.config)
    try:
        report = command.fetch(config, args.window, args.team)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except FileNotFoundError as e:
        print(f"detour: {e}", file=sys.stderr)
        return 1
    print(command.text(report))
    if args.html:
        Path(args.html).write_text(command.html(report))
        print(f"\nwrote {args.html}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from daemon.status_view import NoDaemon, fetch, render

    url = (args.url or _config(args.config).server.url).rstrip("/")
    try:
        s = fetch(url, keys.client_token())
    except NoDaemon as e:
        print(f"detour: {e}", file=sys.stderr)
        return 1
    print(json.dumps(s, indent=2) if args.json else render(url, s))
    return 0


def _service(args: argparse.Namespace) -> int:
    from daemon import service

    platform = args.platform or service.this_platform()
    with_tray = not args.no_tray and service.tray_available()
    p = service.plan(platform, Path.home(), with_tray)
    if args.dry_run:
        print(service.describe(p, args.action))
        return 0
    if platform != service.this_platform():
        raise UsageError(f"--platform {platform} is not this machine's; use it with --dry-run")
    try:
        outputs = service.run(p, args.action, service.run_command)
    except service.ServiceError as e:
        print(f"detour: {e}", file=sys.stderr)
        return 1
    if args.action == "status":
        print("\n".join(o.rstrip() for o in outputs if o.strip()))
        path = default_path()  # read, never written: a status look changes nothing
        url = load(path).server.url if path.exists() else ServerConfig().url
        answers = budget.reachable(url)
        print(f"\ndaemon on {url}: {'answering' if answers else 'not answering'}")
        return 0 if answers else 1
    done = "installed and started" if args.action == "install" else "stopped and removed"
    print(f"detour service {done} ({platform}): " + ", ".join(str(f.path) for f in p.files))
    return 0


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


def _tray(args: argparse.Namespace) -> int:
    from daemon.service import command
    from tui.tray.app import desktop_missing, run

    why = desktop_missing()
    if why is not None:  # before the config or the keyring: a headless login says just this
        print(f"detour: {why}", file=sys.stderr)
        return 2
    config = _config(args.config)
    return run(args.url or config.server.url, keys.client_token(), config.path or default_path(), command())


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
