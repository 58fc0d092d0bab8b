"""`agentconsole demo`: start the whole system locally and open the console on it."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any

from agentconsole.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run redis, prometheus and a simulated fleet locally, and open the console",
        description="Start redis-server, prometheus (with the shipped rules), alertmanager "
        "when installed, and a simulated fleet with a scripted incident story, all on free "
        "loopback ports; open the console on them; stop everything on exit.",
    )
    p.add_argument("--agents", type=int, default=200, help="simulated agents (default 200)")
    p.add_argument("--scenario", default="story", help="simulator scenario (default: story)")
    p.add_argument("--headless", action="store_true", help="no terminal: run, screenshot, exit")
    p.add_argument("--seconds", type=float, default=30.0, help="headless run time")
    p.add_argument("--screenshot", help="save the console's screen as SVG (headless)")
    for name in ("redis", "prometheus", "metrics", "alertmanager"):
        p.add_argument(f"--{name}-port", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=None, run=run)


def run(args: argparse.Namespace) -> int:
    """Synchronous: the console owns the event loop, the stack is plain child processes."""
    from agentconsole.config import ConfigError, load_settings
    from agentconsole.sim.demo import DemoError, demo_stack

    if args.agents < 1:
        print("agentconsole: --agents must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.screenshot and not args.headless:
        print("agentconsole: --screenshot needs --headless", file=sys.stderr)
        return EXIT_USAGE
    ports = {
        k: getattr(args, f"{k}_port") for k in ("redis", "prometheus", "metrics", "alertmanager")
    }
    # SIGTERM and SIGHUP (the terminal closed) behave like Ctrl-C: `finally` cleans up.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with demo_stack(args.agents, args.scenario, ports, log) as stack:
            settings = load_settings(str(stack.workdir / "demo.yaml"))
            if args.read_only:
                settings.ui.read_only = True
            return _run_console(args, settings, stack, log)
    except DemoError as exc:
        print(f"agentconsole demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as exc:
        print(f"agentconsole demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        log("interrupted; stopped every child process")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def log(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


_running_app: list[Any] = []  # the console, once it runs: a signal must end it, not raise in it
_running_stack: list[Any] = []  # what the fallback below cleans up
_signalled: list[int] = []
EXIT_GRACE_SECONDS = 5.0


def _interrupt(*_: Any) -> None:
    """Before the console runs: unwind like Ctrl-C. While it runs: ask it to exit with 130,
    since an exception raised inside its event loop can be swallowed there."""
    if _running_app:
        if not _signalled:
            threading.Thread(target=_abandon_if_stuck, name="demo-exit", daemon=True).start()
        _signalled.append(1)
        _running_app[0].exit(None, 130)
        return
    raise KeyboardInterrupt


def _abandon_if_stuck() -> None:
    """A console whose terminal is gone can hang in its own shutdown (seen: Textual's writer
    thread blocked when the terminal closed under a piped stdout). After a grace period stop
    the children, remove the temp dir and leave, rather than ignore every later signal."""
    time.sleep(EXIT_GRACE_SECONDS)
    if not _running_app or not _running_stack:
        return  # the console ended by itself; `finally` cleans up as usual
    from agentconsole.sim.demo import remove_attach_file, stop_all

    stack = _running_stack[0]
    with contextlib.suppress(Exception):
        stop_all(stack)
        remove_attach_file(stack)
    shutil.rmtree(stack.workdir, ignore_errors=True)
    os._exit(130)


def _run_console(args: argparse.Namespace, settings: Any, stack: Any, log: Any) -> int:
    from agentconsole.sim.demo import attach_command, welcome
    from agentconsole.tui.app import AppOptions, ConsoleApp

    text = "" if args.headless else welcome(stack, args.agents, args.scenario)
    app = ConsoleApp(settings, AppOptions(welcome=text))
    _running_app.append(app)
    _running_stack.append(stack)
    died: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        """A child that dies ends the demo, saying which one and why."""
        while not stop.wait(0.5):
            child = stack.dead_child()
            if child is not None:
                died.append(child.exit_reason())
                with contextlib.suppress(Exception):
                    app.call_from_thread(app.exit, None, 1)
                return

    watcher = threading.Thread(target=watch, name="demo-watchdog", daemon=True)
    watcher.start()
    try:
        if args.headless:
            from agentconsole.tui.capture import run_headless

            run_headless(app, args.seconds, args.screenshot)
        else:
            log(f"console on redis {stack.redis_url}, prometheus {stack.prometheus_url}")
            log(f"from a second terminal: {attach_command()}")
            app.run()
    finally:
        stop.set()
        app.backend.stop()
        _running_app.clear()
        _running_stack.clear()
    if _signalled:
        _signalled.clear()
        raise KeyboardInterrupt  # a signal ended the console: clean up as for Ctrl-C
    if died:
        print(f"agentconsole demo: stopped because {died[0]}", file=sys.stderr)
        return EXIT_FAILED
    if args.screenshot:
        log(f"screenshot saved to {args.screenshot}")
    return EXIT_OK
