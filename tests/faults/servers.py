"""Prometheus that can be killed and restarted on its own port, and a proxy that stalls.

Shared by the fault tests and ``bench/bench_console_faults.py``: the console keeps one
URL for the whole run, as it would in production, while what answers there changes.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from agentconsole.sim.children import die_with_parent
from tests.fixtures.procs import Loopback, free_port, require_binary, stop, wait_until
from tests.fixtures.prometheus import DEPLOY, fast_alert_rules


def _ready(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=0.5) as r:
        return r.status == 200


class RestartablePrometheus:
    """A real prometheus whose process can be SIGKILLed and started again on the same port.

    The TSDB directory survives the restart (the lock is an flock, released on death), so
    the recovered panels have data again at once.
    """

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [
                str(DEPLOY / "recording.yml"),
                str(fast_alert_rules(workdir / "alerts-fast.yml")),
            ],
            "scrape_configs": [{"job_name": "agents", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        """Call from a long-lived thread: the child dies with the thread that started it."""
        args = [
            require_binary("prometheus"),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=error",
        ]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        proc = self.proc
        wait_until(lambda: proc.poll() is None and _ready(f"{self.url}/-/ready"), timeout, "prom")

    def kill(self) -> None:
        """SIGKILL: no goodbye, the port refuses connections at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def has_samples(self, count: int = 5) -> bool:
        from urllib.parse import urlencode

        query = urlencode({"query": f"count_over_time(agent_active_runs[5s]) >= {count}"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=2) as r:
            import json

            return bool(json.load(r)["data"]["result"])


class StallingProxy:
    """An HTTP proxy to a real server that can pass, answer late, or never answer.

    ``mode``: ``"pass"`` forwards at once; ``"slow"`` forwards after ``delay`` seconds
    (set it beyond the panel timeout: the answer arrives after the client gave up);
    ``"hang"`` accepts the request and never answers until the proxy is closed.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.mode = "pass"
        self.delay = 0.0
        self.requests = 0
        self.answered_late = 0
        self._closing = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.requests += 1
                mode = proxy.mode
                if mode == "hang":
                    proxy._closing.wait()
                    self.close_connection = True
                    return
                if mode == "slow":
                    proxy._closing.wait(proxy.delay)
                    proxy.answered_late += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with contextlib.suppress(OSError):
                    status, headers, data = proxy._forward(self.command, self.path, body, self)
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in ("transfer-encoding", "connection"):
                            self.send_header(name, value)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)
                self.close_connection = True

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _forward(
        self, method: str, path: str, body: bytes | None, handler: Any
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=10)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def set(self, mode: str, delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay

    def __enter__(self) -> StallingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


class _Child(Loopback):
    """A helper server of this module in its own process: its threads never take the GIL
    from the console being measured. Talks over stdin/stdout, one line each way."""

    def __init__(self, *args: str) -> None:
        self.args = [sys.executable, "-m", "tests.faults.servers", *args]
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> _Child:
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            self.args,
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"{self.args[3]} process did not start")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class ProxyProcess(_Child):
    """:class:`StallingProxy` in a child process; ``set`` returns once the mode applies."""

    def __init__(self, upstream: str) -> None:
        super().__init__("proxy", upstream)

    def set(self, mode: str, delay: float = 0.0) -> None:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{mode} {delay}\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()


class ExporterProcess(_Child):
    """The tests' known-traffic exporter in a child process (``target`` for Prometheus)."""

    def __init__(self) -> None:
        super().__init__("exporter")


def _serve(argv: list[str]) -> None:
    if argv[0] == "proxy":
        with StallingProxy(argv[1]) as proxy:
            print(proxy.port, flush=True)
            for line in sys.stdin:
                mode, delay = line.split()
                proxy.set(mode, float(delay))
                print("ok", flush=True)
    elif argv[0] == "exporter":
        from tests.fixtures.prometheus import start_exporter

        with start_exporter() as exporter:
            print(exporter.port, flush=True)
            sys.stdin.read()


if __name__ == "__main__":
    _serve(sys.argv[1:])
