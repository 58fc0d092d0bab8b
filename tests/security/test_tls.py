"""TLS end to end: a redis-server with only a TLS port, client certificates required.

Certificates come from the ``openssl`` command line (in every Debian base image), so the
test needs no extra Python package.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentconsole.cli.main import main
from tests.fixtures.events import first_event
from tests.fixtures.procs import free_port, port_open, require_binary, running


@dataclass
class Pki:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _issue(pki: Path, name: str, subject: str, ca: str, ext: str) -> None:
    (pki / f"{name}.ext").write_text(ext)
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", subject, cwd=pki)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-sha256",
             "-extfile", f"{name}.ext", cwd=pki)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "rogue-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN=agentconsole test {ca}",
                 cwd=d)  # fmt: skip
    _issue(d, "server", "/CN=localhost", "ca",
           "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    _issue(d, "client", "/CN=agentconsole", "ca", "extendedKeyUsage=clientAuth\n")
    _issue(d, "rogue-client", "/CN=mallory", "rogue-ca", "extendedKeyUsage=clientAuth\n")
    return Pki(d)


@pytest.fixture(scope="module")
def tls_redis(pki: Pki) -> Iterator[int]:
    port = free_port()
    args = [
        require_binary("redis-server"),
        "--port", "0",
        "--tls-port", str(port),
        "--bind", "127.0.0.1",
        "--tls-cert-file", pki.path("server.crt"),
        "--tls-key-file", pki.path("server.key"),
        "--tls-ca-cert-file", pki.path("ca.crt"),
        "--tls-auth-clients", "yes",
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    with running(args, lambda: port_open(port), "redis-server (TLS)"):
        yield port


@pytest.fixture
def tls_config(pki: Pki, tls_redis: int, tmp_path, monkeypatch):
    """A config file with the TLS paths; the rediss:// URL comes from the environment."""

    def write(client: str = "client", ca: str = "ca") -> str:
        cfg = tmp_path / f"tls-{client}-{ca}.yaml"
        cfg.write_text(
            "redis:\n"
            "  prefix: tls\n"
            f"  ssl_ca_file: {pki.path(ca + '.crt')}\n"
            f"  ssl_certfile: {pki.path(client + '.crt')}\n"
            f"  ssl_keyfile: {pki.path(client + '.key')}\n"
            "operator:\n"
            "  name: tess\n"
            "  role: admin\n"
        )
        return str(cfg)

    monkeypatch.chdir(tmp_path)
    for var in ("AGENTCONSOLE_CONFIG", "AGENTCONSOLE_ROLE", "AGENTCONSOLE_REDIS_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", f"rediss://127.0.0.1:{tls_redis}/0")
    return write


def test_cli_over_tls_with_client_certificate(tls_config, capsys):
    cfg = tls_config()
    assert main(["--config", cfg, "flags", "create", "over-tls", "--reason", "tls"]) == 0
    assert main(["--config", cfg, "status"]) == 0
    assert main(["--config", cfg, "--json", "flags", "list"]) == 0
    assert main(["--config", cfg, "acl", "whoami"]) == 0
    out = capsys.readouterr().out
    assert "over-tls" in out and "rediss://" in out


async def test_control_plane_and_events_over_tls(tls_config):
    """The path the console and the SDK share: commands, scripts and pub/sub over TLS."""
    from agentconsole.config import load_settings
    from agentconsole.control import ControlPlane
    from agentconsole.control.connection import connect

    settings = load_settings(tls_config())
    plane = ControlPlane.from_settings(settings)
    listener = connect(settings.redis, for_pubsub=True)
    try:
        await plane.check_schema()
        event = await first_event(plane, listener, lambda: plane.flags.create("tls-event"))
        assert (event.entity, event.name) == ("flag", "tls-event")
    finally:
        await listener.aclose()
        await plane.close()


@pytest.mark.parametrize(
    ("client", "ca", "expect"),
    [
        ("rogue-client", "ca", "Redis unreachable"),  # server refuses an unknown client cert
        ("client", "rogue-ca", "certificate verify failed"),  # we refuse an unknown server
    ],
)
def test_tls_failures_are_one_clear_line(tls_config, capsys, client, ca, expect):
    cfg = tls_config(client, ca)
    code = main(["--config", cfg, "status"])
    err = capsys.readouterr().err
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expect in lines[0]
    assert "-----BEGIN" not in err  # no key or certificate material in the message


def test_plain_redis_url_against_tls_port_fails_fast(tls_config, tls_redis, monkeypatch, capsys):
    monkeypatch.setenv("AGENTCONSOLE_REDIS_URL", f"redis://127.0.0.1:{tls_redis}/0")
    assert main(["--config", tls_config(), "status"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
