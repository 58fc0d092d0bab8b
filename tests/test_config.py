"""Configuration: where it is found, what overrides it, secrets, and one-line errors."""

from __future__ import annotations

import dataclasses
import re
import traceback
from pathlib import Path

import pytest

from agentconsole.config import ConfigError, Secret, Settings, load_settings, redis_is_loopback

EXAMPLE = Path(__file__).resolve().parents[1] / "agentconsole.example.yaml"


@pytest.fixture
def home(tmp_path, monkeypatch) -> dict[str, str]:
    """A clean working directory and user config dir; returns the env to pass in."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the shipped example -------------------------------------------------------------


def _setting_paths(cls: type, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "source" or "Secret" in str(f.type):
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(prefix + f.name)
        if dataclasses.is_dataclass(default):
            out += _setting_paths(type(default), f"{prefix}{f.name}.")
    return out


def test_example_loads_and_documents_every_setting(home):
    settings = load_settings(str(EXAMPLE), env=home)
    defaults = Settings()
    for section in ("redis", "prometheus", "alertmanager", "operator", "registry", "budgets"):
        assert getattr(settings, section) == getattr(defaults, section), section
    assert settings.ui == defaults.ui and settings.environment == defaults.environment
    assert settings.prices["gpt-4o"].output_per_1k == 0.01
    text = EXAMPLE.read_text()
    lines = text.splitlines()
    for path in _setting_paths(Settings):
        *parents, leaf = path.split(".")
        indent = "  " * len(parents)
        pattern = re.compile(rf"^{indent}{re.escape(leaf)}:")
        assert any(pattern.match(line) for line in lines), f"{path} is not in the example"
    for var in (
        "AGENTCONSOLE_REDIS_PASSWORD",
        "AGENTCONSOLE_PROMETHEUS_TOKEN",
        "AGENTCONSOLE_ROLE",
    ):
        assert var in text


def test_example_panels_are_valid(home):
    panels = pytest.importorskip("agentconsole.metrics.panels")
    settings = load_settings(str(EXAMPLE), env=home)
    built = {p.id: p for p in panels.build_panels(settings)}
    assert built["p99_latency"].target.threshold == 5


# --- where the file is found -----------------------------------------------------------


def test_search_order(home, tmp_path):
    user = _write(tmp_path / "xdg" / "agentconsole" / "config.yaml", "environment: {name: user}")
    assert load_settings(env=home).environment.name == "user"
    local = _write(Path("agentconsole.yaml"), "environment: {name: local-file}")
    assert load_settings(env=home).environment.name == "local-file"
    from_env = _write(tmp_path / "env.yaml", "environment: {name: from-env}")
    env = home | {"AGENTCONSOLE_CONFIG": str(from_env)}
    assert load_settings(env=env).environment.name == "from-env"
    explicit = _write(tmp_path / "explicit.yaml", "environment: {name: explicit}")
    settings = load_settings(str(explicit), env=env)
    assert settings.environment.name == "explicit" and settings.source == explicit
    assert user.exists() and local.exists()


def test_no_file_at_all_gives_defaults(home):
    settings = load_settings(env=home)
    assert settings.source is None and settings.redis.url == "redis://127.0.0.1:6379/0"


def test_missing_explicit_or_env_file_is_an_error(home, tmp_path):
    with pytest.raises(ConfigError, match="given with --config"):
        load_settings(str(tmp_path / "nope.yaml"), env=home)
    with pytest.raises(ConfigError, match=r"\$AGENTCONSOLE_CONFIG"):
        load_settings(env=home | {"AGENTCONSOLE_CONFIG": str(tmp_path / "nope.yaml")})


# --- environment -----------------------------------------------------------------------


def test_environment_overrides_the_file(home):
    _write(Path("agentconsole.yaml"), "redis: {url: 'redis://10.0.0.5:6379/0', prefix: a}\n")
    env = home | {
        "AGENTCONSOLE_REDIS_URL": "redis://127.0.0.1:7000/2",
        "AGENTCONSOLE_REDIS_PREFIX": "prod",
        "AGENTCONSOLE_PROMETHEUS_URL": "https://prom.example:9090",
        "AGENTCONSOLE_ALERTMANAGER_URL": "http://am:9093",
        "AGENTCONSOLE_OPERATOR": "carol",
        "AGENTCONSOLE_ROLE": "responder",
        "AGENTCONSOLE_ENVIRONMENT": "prod-eu",
        "AGENTCONSOLE_REFRESH_SECONDS": "0.5",
    }
    s = load_settings(env=env)
    assert (s.redis.url, s.redis.prefix) == ("redis://127.0.0.1:7000/2", "prod")
    assert (
        s.prometheus.url == "https://prom.example:9090" and s.alertmanager.url == "http://am:9093"
    )
    assert (s.operator_name, s.role, s.environment.name) == ("carol", "responder", "prod-eu")
    assert s.ui.refresh_seconds == 0.5


def test_bad_environment_value(home):
    with pytest.raises(ConfigError, match=r"AGENTCONSOLE_REFRESH_SECONDS: expected a number"):
        load_settings(env=home | {"AGENTCONSOLE_REFRESH_SECONDS": "fast"})
    with pytest.raises(ConfigError, match=r"operator\.role: expected one of viewer"):
        load_settings(env=home | {"AGENTCONSOLE_ROLE": "root"})


# --- roles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,role",
    [
        ("redis://127.0.0.1:6379/0", "admin"),
        ("redis://localhost:6379/0", "admin"),
        ("redis://[::1]:6379/0", "admin"),
        ("unix:///run/redis.sock", "admin"),
        ("redis://10.1.2.3:6379/0", "viewer"),
        ("rediss://redis.prod.example:6380/0", "viewer"),
    ],
)
def test_default_role_admin_on_loopback_viewer_elsewhere(home, url, role):
    s = load_settings(env=home | {"AGENTCONSOLE_REDIS_URL": url})
    assert s.operator.role is None and s.role == role
    assert redis_is_loopback(url) is (role == "admin")


def test_configured_role_wins(home):
    _write(Path("agentconsole.yaml"), "operator: {name: dave, role: viewer}\n")
    assert load_settings(env=home).role == "viewer"  # even on loopback
    env = home | {"AGENTCONSOLE_REDIS_URL": "redis://10.0.0.1/0", "AGENTCONSOLE_ROLE": "admin"}
    assert load_settings(env=env).role == "admin"


def test_operator_name_falls_back_to_the_os_user(home, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "osuser")
    assert load_settings(env=home).operator_name == "osuser"


# --- secrets ---------------------------------------------------------------------------

PASSWORD = "s3cr3t-Pa55"
TOKEN = "tok-ABCDEF-123"


def _traceback_with(settings: Settings) -> str:
    """A traceback that shows the settings as a local, as a crash report would."""
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        return "".join(
            traceback.TracebackException.from_exception(exc, capture_locals=True).format()
        )


def _never_shows(settings: Settings, *values: str) -> None:
    tb = _traceback_with(settings)
    assert "Settings(" in tb
    texts = (repr(settings), str(settings), repr(settings.redis), str(settings.prometheus), tb)
    for text in texts:
        for value in values:
            assert value not in text


def test_secrets_from_environment(home):
    env = home | {
        "AGENTCONSOLE_REDIS_PASSWORD": PASSWORD,
        "AGENTCONSOLE_PROMETHEUS_TOKEN": TOKEN,
        "AGENTCONSOLE_PROMETHEUS_PASSWORD": PASSWORD + "2",
    }
    s = load_settings(env=env)
    assert isinstance(s.redis.password, Secret) and s.redis.password.reveal() == PASSWORD
    assert s.prometheus.token.reveal() == TOKEN
    assert s.prometheus.password.reveal() == PASSWORD + "2"
    _never_shows(s, PASSWORD, TOKEN)
    assert repr(s.redis.password) == "Secret('***')" and f"{s.prometheus.token}" == "Secret('***')"


def test_secrets_from_files_and_env_wins(home, tmp_path):
    pw = _write(tmp_path / "redis.pw", PASSWORD + "\n")
    tok = _write(tmp_path / "prom.token", TOKEN)
    _write(
        Path("agentconsole.yaml"),
        f"redis: {{password_file: {pw}}}\nprometheus: {{token_file: {tok}}}\n",
    )
    s = load_settings(env=home)
    assert s.redis.password.reveal() == PASSWORD and s.prometheus.token.reveal() == TOKEN
    _never_shows(s, PASSWORD, TOKEN)
    s = load_settings(env=home | {"AGENTCONSOLE_REDIS_PASSWORD": "from-env"})
    assert s.redis.password.reveal() == "from-env"


def test_unreadable_secret_file(home, tmp_path):
    _write(Path("agentconsole.yaml"), f"redis: {{password_file: {tmp_path / 'missing'}}}\n")
    with pytest.raises(ConfigError, match=r"redis\.password_file: cannot read secret file"):
        load_settings(env=home)


@pytest.mark.parametrize(
    "yaml_text,key",
    [
        (f"redis:\n  password: {PASSWORD}\n", "redis.password"),
        (f"prometheus:\n  token: {TOKEN}\n", "prometheus.token"),
        (f"prometheus:\n  password: {PASSWORD}\n", "prometheus.password"),
        (f"alertmanager:\n  api_key: {TOKEN}\n", "alertmanager.api_key"),
    ],
)
def test_secret_in_yaml_is_refused_without_echoing_it(home, yaml_text, key):
    path = _write(Path("agentconsole.yaml"), yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_settings(env=home)
    message = str(exc.value)
    assert str(path) in message and key in message and "never read from the config" in message
    assert PASSWORD not in message and TOKEN not in message


def test_password_in_redis_url_is_refused_without_echoing_it(home):
    env = home | {"AGENTCONSOLE_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:6379/0"}
    with pytest.raises(ConfigError) as exc:
        load_settings(env=env)
    assert "carries a password" in str(exc.value) and PASSWORD not in str(exc.value)


# --- invalid files: one line, file + key + expectation ----------------------------------


@pytest.mark.parametrize(
    "yaml_text,expected",
    [
        (
            "redis:\n  connect_timeout: soon\n",
            "redis.connect_timeout: expected a number, got 'soon'",
        ),
        ("budgets:\n  request_tokens: 4000.5\n", "budgets.request_tokens: expected an integer"),
        ("ui:\n  read_only: maybe\n", "ui.read_only: expected true or false"),
        ("redis: 5\n", "redis: expected a mapping, got int"),
        ("prices:\n  gpt: {input: 1}\n", "prices.gpt.input: unknown setting (expected one of"),
        ("redis:\n  hots: x\n", "redis.hots: unknown setting (expected one of"),
        (
            "redis:\n  ulr: redis://x\n",
            "redis.ulr: unknown setting; did you mean redis.url? "
            "($AGENTCONSOLE_REDIS_URL sets it too) (expected one of",
        ),
        ("prometheous:\n  url: x\n", "prometheous: unknown setting; did you mean prometheus?"),
        ("ui:\n  refresh: 2\n", "did you mean ui.refresh_seconds? ($AGENTCONSOLE_REFRESH"),
        ("operator:\n  role: boss\n", "operator.role: expected one of viewer, responder, admin"),
        ("redis:\n  prefix: 'a:b'\n", "redis.prefix: expected a short name"),
        ("redis:\n  url: http://x\n", "redis.url: expected a redis://"),
        ("redis:\n  url: http://x\n", "(set in the config file or with $AGENTCONSOLE_REDIS_URL)"),
        ("prometheus:\n  url: ftp://x\n", "prometheus.url: expected an http://"),
        (
            "traces:\n  url_template: 'https://j.example/trace/{traceid}'\n",
            "traces.url_template: unknown placeholder {traceid}; did you mean {trace_id}? "
            "(expected {trace_id}, {agent_id}, {tenant}, {user})",
        ),
        ("traces:\n  url_template: 'https://j/{tenant}'\n", "names no {trace_id}"),
        ("traces:\n  url_template: 'file:///{trace_id}'\n", "expected an http:// or https://"),
        (
            "traces:\n  url_template: 'https://j/{span}/{trace_id}'\n",
            "(set in the config file or with $AGENTCONSOLE_TRACES_URL_TEMPLATE)",
        ),
        ("- just\n- a list\n", "expected a mapping at the top level"),
        ("redis: {url: [\n", ":"),  # YAML syntax error: file and line
    ],
)
def test_invalid_config_is_one_message_naming_file_key_and_expectation(home, yaml_text, expected):
    path = _write(Path("agentconsole.yaml"), yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_settings(env=home)
    message = str(exc.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


def test_yaml_syntax_error_names_the_line(home):
    path = _write(Path("agentconsole.yaml"), "redis:\n  url: redis://x\n  prefix: [\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:\d+: "):
        load_settings(env=home)


def test_cli_exit_code_2_and_no_traceback(home, capsys, monkeypatch):
    from agentconsole.cli.main import main

    for name in ("AGENTCONSOLE_CONFIG", "AGENTCONSOLE_ROLE", "AGENTCONSOLE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", home["XDG_CONFIG_HOME"])
    _write(Path("agentconsole.yaml"), "registry:\n  dead_after_seconds: [1]\n")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "agentconsole.yaml: registry.dead_after_seconds: expected a number" in err


def test_trace_url_template_fills_and_quotes_its_placeholders(home):
    """Jaeger, Tempo (a Grafana URL with JSON braces of its own) and Langfuse templates."""
    env = {**home, "AGENTCONSOLE_TRACES_URL_TEMPLATE": "https://jaeger.example/trace/{trace_id}"}
    traces = load_settings(env=env).traces
    assert traces.url(trace_id="4bf92f35") == "https://jaeger.example/trace/4bf92f35"
    grafana = 'https://g.example/explore?left={"queries":[{"query":"{trace_id}"}]}&t={tenant}'
    _write(Path("agentconsole.yaml"), f"traces:\n  url_template: '{grafana}'\n")
    traces = load_settings(env=home).traces
    url = traces.url(trace_id="abc", tenant="globex corp")
    assert url == 'https://g.example/explore?left={"queries":[{"query":"abc"}]}&t=globex%20corp'
