"""Shared by the SDK benchmarks in bench/: a private redis-server, tables, machine facts."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from agentconsole.sim.children import free_port, port_open, stop, wait_until


def redis_args(binary: str, port: int, *extra: str) -> list[str]:
    """A redis-server on 127.0.0.1 at ``port`` that keeps nothing on disk, then ``extra``."""
    nothing_on_disk = ["--save", "", "--appendonly", "no"]
    return [binary, "--port", str(port), "--bind", "127.0.0.1", *nothing_on_disk, *extra]


def cluster_args(node_dir: Path) -> list[str]:
    """The arguments that make a redis-server a cluster node keeping its state in ``node_dir``."""
    config = str(node_dir / "nodes.conf")
    return ["--cluster-enabled", "yes", "--cluster-config-file", config, "--dir", str(node_dir)]


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (or $BENCH_REDIS_URL if set)."""
    if os.environ.get("BENCH_REDIS_URL"):
        yield os.environ["BENCH_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        redis_args(binary, port, "--maxclients", "10000"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), 10, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


def settings_for(url: str, prefix: str = "bench") -> Any:
    from agentconsole.config import Settings

    s = Settings()
    s.redis.url = url
    s.redis.prefix = prefix
    s.operator.name, s.operator.role = "bench", "admin"
    return s


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def machine() -> str:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis = "?"
    with contextlib.suppress(Exception):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        redis = out.stdout.split("v=")[1].split()[0]
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, redis-server {redis}"
    )


def commands_processed(url: str) -> int:
    """Redis's own count of commands it has run: the round trips a benchmark caused."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


def redis_cpu_seconds(url: str) -> float:
    """The CPU time (user + system) the Redis server has used: what a measured step cost
    it is the difference of two readings."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        client.close()


def cluster_port(taken: Collection[int] = ()) -> int:
    """A free port (not in ``taken``) whose cluster-bus twin (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port in taken or port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


NODE_OPTIONS = ("--cluster-node-timeout", "5000", "--protected-mode", "no")


@contextlib.contextmanager
def redis_cluster(masters: int = 3, workdir: Path | None = None) -> Iterator[list[int]]:
    """A throwaway Redis Cluster of ``masters`` masters (no replicas) on loopback.

    ``redis-server --cluster-enabled yes`` per node, then ``redis-cli --cluster create``
    hands the 16,384 slots out evenly. Yields the nodes' ports once the cluster is ``ok``.
    """
    import tempfile

    import redis

    from agentconsole.sim.children import die_with_parent

    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise RuntimeError("redis-server and redis-cli are needed (apt-get install redis-server)")
    with contextlib.ExitStack() as stack:
        base = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ports: list[int] = []
        procs: list[subprocess.Popen] = []

        def stop_all() -> None:
            for proc in procs:
                stop(proc)

        stack.callback(stop_all)
        for _ in range(masters):
            port = cluster_port(ports)
            node_dir = base / f"node-{port}"
            node_dir.mkdir(parents=True, exist_ok=True)
            args = redis_args(server, port, *cluster_args(node_dir), *NODE_OPTIONS)
            procs.append(
                subprocess.Popen(
                    args,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=die_with_parent,  # no orphans if the caller is killed
                )
            )
            ports.append(port)
        for port in ports:
            wait_until(functools.partial(port_open, port), 10, "cluster node")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def ready() -> bool:
            for port in ports:
                with redis.Redis(port=port) as r:
                    if r.cluster("info")["cluster_state"] != "ok":
                        return False
            return True

        wait_until(ready, 30, "cluster state ok")
        yield ports
