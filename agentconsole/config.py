"""One settings object, from a YAML file plus environment overrides.

Why hand-rolled: the schema is small, start-up must stay fast, and every error has to name
the file, the key and what was expected in one line (``ConfigError``), never a traceback.
Secrets are never read from YAML: only from the environment or a file given by path.
"""

from __future__ import annotations

import dataclasses
import getpass
import ipaddress
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROLES = ("viewer", "responder", "admin")
ENV_PREFIX = "AGENTCONSOLE_"
SECRET_KEYS = {"password", "token", "secret", "api_key", "client_key_password"}


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator."""


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass
class EnvironmentSettings:
    name: str = "local"
    color: str = "green"


@dataclass
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "ac"
    username: str | None = None
    password_file: str | None = None
    ssl_ca_file: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    connect_timeout: float = 1.5
    socket_timeout: float = 3.0
    password: Secret | None = field(default=None, repr=False)


@dataclass
class PrometheusSettings:
    url: str = "http://127.0.0.1:9090"
    preset: str = "agentconsole"
    timeout: float = 5.0
    verify_tls: bool = True
    ca_file: str | None = None
    token_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    token: Secret | None = field(default=None, repr=False)
    password: Secret | None = field(default=None, repr=False)


@dataclass
class AlertmanagerSettings:
    url: str | None = None
    timeout: float = 5.0


@dataclass
class OperatorSettings:
    name: str | None = None
    role: str | None = None


@dataclass
class RegistrySettings:
    dead_after_seconds: float = 30.0
    reap_after_seconds: float = 600.0
    heartbeat_seconds: float = 2.0
    # Registry partitions, each under its own hash tag (spread by a Redis Cluster). Every
    # process of one deployment must agree: the first operator stamps it in Redis and a
    # mismatch is refused (docs/scaling.md).
    partitions: int = 16


@dataclass
class RolloutSettings:
    """`agentconsole rollouts run`: how often plans are judged, how long its lease lasts."""

    interval_seconds: float = 10.0  # evaluate every active plan this often
    lease_seconds: float = 6.0  # a dead controller's lease passes to a standby within this
    min_window_seconds: float = 30.0  # never judge a step on less than this much history
    actor: str = "rollout-controller"  # the name its decisions carry in the audit log


@dataclass
class BudgetDefaults:
    """Defaults from the deployment guide; live values are changed in Redis."""

    request_tokens: int = 4000
    user_daily_tokens: int = 50000
    user_daily_cost_usd: float = 5.0
    run_max_steps: int = 50
    run_max_seconds: float = 600.0
    fleet_daily_cost_usd: float = 0.0  # spend target of the console's panels (0: none)
    tenant_daily_cost_usd: float = 0.0  # a tenant's calls are refused past it (0: none)


@dataclass
class ModelPrice:
    input_per_1k: float = 0.0
    output_per_1k: float = 0.0


@dataclass
class UISettings:
    refresh_seconds: float = 2.0
    window: str = "15m"
    read_only: bool = False
    keymap: dict[str, str] = field(default_factory=dict)


TRACE_FIELDS = ("trace_id", "agent_id", "tenant", "user")  # what a trace URL may name
_PLACEHOLDER = re.compile(r"\{(\w*)\}")


@dataclass
class TracesSettings:
    """Where a run's trace opens (Jaeger, Tempo, Langfuse, ...): ``url_template`` names
    ``{trace_id}`` and may name ``{agent_id}``, ``{tenant}``, ``{user}``; other braces
    (a Grafana URL's JSON) are left as they are. Empty: the console copies the trace id."""

    url_template: str = ""

    def url(self, **values: str) -> str:
        """The template with each placeholder replaced by its URL-quoted value."""
        from urllib.parse import quote

        return _PLACEHOLDER.sub(lambda m: quote(values.get(m[1], ""), safe=""), self.url_template)


def _check_trace_template(template: str) -> None:
    if not template:
        return
    if urlsplit(template).scheme not in ("http", "https"):
        raise ConfigError(
            f"traces.url_template: expected an http:// or https:// URL, got {template!r}"
        )
    expected = ", ".join("{" + f + "}" for f in TRACE_FIELDS)
    for name in _PLACEHOLDER.findall(template):
        if name not in TRACE_FIELDS:
            import difflib

            near = difflib.get_close_matches(name, TRACE_FIELDS, n=1, cutoff=0.6)
            hint = f"; did you mean {{{near[0]}}}?" if near else ""
            raise ConfigError(
                f"traces.url_template: unknown placeholder {{{name}}}{hint} (expected {expected})"
            )
    if "{trace_id}" not in template:
        raise ConfigError(f"traces.url_template: names no {{trace_id}} (expected {expected})")


@dataclass
class ApprovalSettings:
    """Four-eyes: operations that need a second operator (control/approvals.py)."""

    operations: list[str] = field(default_factory=list)  # operation names, e.g. kill.all
    environments: list[str] = field(default_factory=list)  # only in these (empty: all)
    expiry_seconds: float = 900.0  # a request not decided by then is void


WRITE_PATHS = ("direct", "applier")


@dataclass
class ControlSettings:
    """How changes reach Redis (control/applier.py, docs/security.md).

    ``direct``: this process runs the change script with its own credential (trusted
    operators only: a credential that may change a flag may also write it raw).
    ``applier``: it appends a request to its own stream and waits for
    ``agentconsole applier``, the one process holding the write credential.
    """

    writes: str = "direct"
    operators: dict[str, str] = field(default_factory=dict)  # person -> role (applier's table)
    applier_timeout_seconds: float = 5.0  # how long a change waits for the applier


@dataclass
class Settings:
    environment: EnvironmentSettings = field(default_factory=EnvironmentSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    rollouts: RolloutSettings = field(default_factory=RolloutSettings)
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    budgets: BudgetDefaults = field(default_factory=BudgetDefaults)
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    panels: list[dict[str, Any]] | None = None
    runbooks_dir: str = "runbooks"
    ui: UISettings = field(default_factory=UISettings)
    traces: TracesSettings = field(default_factory=TracesSettings)
    source: Path | None = None

    @property
    def operator_name(self) -> str:
        return self.operator.name or _os_user()

    @property
    def role(self) -> str:
        """Configured role, else admin of a loopback Redis and viewer of anything else.

        A read-only console is a viewer whatever the configured role: its writes are
        refused by the control plane itself, not merely hidden from the keys."""
        if self.ui.read_only:
            return "viewer"
        if self.operator.role:
            return self.operator.role
        return "admin" if redis_is_loopback(self.redis.url) else "viewer"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def redis_is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or url.startswith("unix://"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- locating the file -------------------------------------------------------------------


def find_config_file(
    explicit: str | None = None, env: typing.Mapping[str, str] | None = None
) -> Path | None:
    """--config, then $AGENTCONSOLE_CONFIG, then ./agentconsole.yaml, then the user dir."""
    env = os.environ if env is None else env
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (given with --config)")
        return path
    from_env = env.get(ENV_PREFIX + "CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (from $AGENTCONSOLE_CONFIG)")
        return path
    local = Path("agentconsole.yaml")
    if local.is_file():
        return local
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user = Path(xdg) / "agentconsole" / "config.yaml"
    return user if user.is_file() else None


# --- building typed settings from plain data ---------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is dict:
        return "a mapping"
    if origin is list:
        return "a list"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is dict:
        _, vtype = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {str(k): _coerce(v, vtype, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (itype,) = typing.get_args(tp)
        return [_coerce(v, itype, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is Any:
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is float and is_number:
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int and is_number and isinstance(value, int):
        return value
    if tp is str and (is_number or isinstance(value, str)):
        return str(value)
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    secret = {name for name, tp in hints.items() if Secret in typing.get_args(tp)}
    known = {f.name for f in dataclasses.fields(cls)} - secret
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{path}: secrets are never read from the config file; set the "
                f"environment variable or point '{key}_file' at a file that holds it"
            )
        if key not in known or key == "source":
            allowed = sorted(k for k in known if k != "source")
            raise ConfigError(f"{path}: unknown setting{_did_you_mean(str(key), allowed, where)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def _did_you_mean(key: str, allowed: list[str], where: str) -> str:
    """ "; did you mean redis.url? ($AGENTCONSOLE_REDIS_URL sets it too)", then the list."""
    import difflib

    near = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
    out = ""
    if near:
        full = f"{where}.{near[0]}" if where else near[0]
        env = env_name(full)
        out = f"; did you mean {full}?" + (f" (${env} sets it too)" if env else "")
    return f"{out} (expected one of: {', '.join(allowed)})"


def env_name(setting: str) -> str | None:
    """The environment variable that overrides ``section.key``, if there is one."""
    section, _, key = setting.partition(".")
    for suffix, (s, k, _) in _ENV_OVERRIDES.items():
        if (s, k) == (section, key):
            return ENV_PREFIX + suffix
    return None


# --- environment and secrets -------------------------------------------------------------

_ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    "REDIS_URL": ("redis", "url", str),
    "REDIS_PREFIX": ("redis", "prefix", str),
    "REDIS_USERNAME": ("redis", "username", str),
    "PROMETHEUS_URL": ("prometheus", "url", str),
    "PROMETHEUS_PRESET": ("prometheus", "preset", str),
    "ALERTMANAGER_URL": ("alertmanager", "url", str),
    "OPERATOR": ("operator", "name", str),
    "ROLE": ("operator", "role", str),
    "ENVIRONMENT": ("environment", "name", str),
    "CONTROL_WRITES": ("control", "writes", str),
    "REFRESH_SECONDS": ("ui", "refresh_seconds", float),
    "TRACES_URL_TEMPLATE": ("traces", "url_template", str),
}


def _apply_env(settings: Settings, env: typing.Mapping[str, str]) -> None:
    for suffix, (section, key, cast) in _ENV_OVERRIDES.items():
        raw = env.get(ENV_PREFIX + suffix)
        if raw is None or raw == "":
            continue
        try:
            value = cast(raw)
        except ValueError:
            raise ConfigError(
                f"${ENV_PREFIX}{suffix}: expected {_type_name(cast)}, got {raw!r}"
            ) from None
        setattr(getattr(settings, section), key, value)


def _read_secret_file(path: str, what: str) -> Secret:
    try:
        return Secret(Path(path).expanduser().read_text().strip())
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read secret file {path}: {exc.strerror}") from None


def _load_secrets(settings: Settings, env: typing.Mapping[str, str]) -> None:
    r, p = settings.redis, settings.prometheus
    if env.get(ENV_PREFIX + "REDIS_PASSWORD"):
        r.password = Secret(env[ENV_PREFIX + "REDIS_PASSWORD"])
    elif r.password_file:
        r.password = _read_secret_file(r.password_file, "redis.password_file")
    if env.get(ENV_PREFIX + "PROMETHEUS_TOKEN"):
        p.token = Secret(env[ENV_PREFIX + "PROMETHEUS_TOKEN"])
    elif p.token_file:
        p.token = _read_secret_file(p.token_file, "prometheus.token_file")
    if env.get(ENV_PREFIX + "PROMETHEUS_PASSWORD"):
        p.password = Secret(env[ENV_PREFIX + "PROMETHEUS_PASSWORD"])
    elif p.password_file:
        p.password = _read_secret_file(p.password_file, "prometheus.password_file")


def _validate(settings: Settings) -> None:
    """Check values, whichever source set them; the message names the variable too."""
    try:
        _check(settings)
    except ConfigError as exc:
        message = str(exc)
        env = env_name(message.split(":", 1)[0])
        if env:
            message += f" (set in the config file or with ${env})"
        raise ConfigError(message) from None


def _check(settings: Settings) -> None:
    if settings.operator.role is not None and settings.operator.role not in ROLES:
        raise ConfigError(
            f"operator.role: expected one of {', '.join(ROLES)}, got {settings.operator.role!r}"
        )
    scheme = urlsplit(settings.redis.url).scheme
    if scheme not in ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster"):
        raise ConfigError(
            f"redis.url: expected a redis://, rediss:// or unix:// URL, got {settings.redis.url!r}"
        )
    if urlsplit(settings.redis.url).password:
        raise ConfigError(
            "redis.url: the URL carries a password; put it in $AGENTCONSOLE_REDIS_PASSWORD "
            "or redis.password_file instead"
        )
    prefix = settings.redis.prefix
    if not prefix or any(c in prefix for c in "{}: \t\n*?[]"):
        raise ConfigError(
            f"redis.prefix: expected a short name without braces, colons, spaces or glob "
            f"characters, got {prefix!r}"
        )
    if urlsplit(settings.prometheus.url).scheme not in ("http", "https"):
        raise ConfigError(
            f"prometheus.url: expected an http:// or https:// URL, got {settings.prometheus.url!r}"
        )
    if not math.isfinite(settings.ui.refresh_seconds) or settings.ui.refresh_seconds <= 0:
        raise ConfigError("ui.refresh_seconds: expected a number above 0")
    _check_trace_template(settings.traces.url_template)
    _check_control(settings.control)


def redis_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a Redis user named in ACL key patterns, or None."""
    if not isinstance(name, str) or not name or len(name) > 64 or not name.isprintable():
        return "must be a printable name of 1 to 64 characters"
    if any(c in name for c in "{}: \t\n*?[]\\\"'"):
        return "must not hold braces, colons, spaces, quotes or glob characters"
    return None


def _check_control(control: ControlSettings) -> None:
    if control.writes not in WRITE_PATHS:
        raise ConfigError(
            f"control.writes: expected one of {', '.join(WRITE_PATHS)}, got {control.writes!r}"
        )
    timeout = control.applier_timeout_seconds
    if not math.isfinite(timeout) or timeout <= 0 or timeout > 300:
        raise ConfigError("control.applier_timeout_seconds: expected a number from 0 to 300")
    for person, role in control.operators.items():
        problem = redis_name_problem(person)
        if problem:
            raise ConfigError(f"control.operators: {person!r} {problem}")
        if role not in ROLES:
            raise ConfigError(
                f"control.operators: {person!r} has role {role!r}; expected viewer, "
                "responder or admin"
            )


def load_settings(
    explicit_path: str | None = None, env: typing.Mapping[str, str] | None = None
) -> Settings:
    """Load the config file (if any), apply env overrides, read secrets, validate."""
    import yaml

    env = os.environ if env is None else env
    path = find_config_file(explicit_path, env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"{path}{line}: {problem}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = loaded
    try:
        settings: Settings = _build(Settings, data, "")
        settings.source = path
        _apply_env(settings, env)
        _load_secrets(settings, env)
        _validate(settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    return settings
