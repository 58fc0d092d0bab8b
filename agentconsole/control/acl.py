"""Redis ACL users per role, derived from the key schema, and an audit-stream tamper check.

Why: roles checked in our own client only stop honest mistakes. Redis itself must refuse a
viewer's write, whatever client the viewer runs. Every key pattern below is built with
:class:`Keys`, so the rules follow the prefix and any key a future release adds has to be
placed here on purpose (tests/security checks that each ``Keys`` builder is covered).

How the scripts fit: a Lua script runs each ``redis.call`` with the *caller's* permissions,
and Redis 7 checks the keys an ``EVALSHA`` declares as read-write. So every writing role gets
one selector that lets it name any control-plane key in ``EVALSHA`` (that alone grants
nothing) while the commands inside the script are checked against the role's other grants.
Redis does not undo a script's earlier writes when a later command is refused, so a role is
granted all of a script's writes or none of its first one (``apply_change`` writes the
entity first, then the version, the audit entry and the event).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentconsole.control.keys import Keys

if TYPE_CHECKING:
    from agentconsole.control.connection import RedisClient

ROLES = ("viewer", "responder", "admin", "agent")
PASSWORD_ENV = "AGENTCONSOLE_ACL_PASSWORD_{role}"

# --- command groups (explicit lists, not categories: reviewable, and no SCAN/KEYS) ---------
# Redis >= 7.0 (selectors, %R~/%W~). CLIENT SETINFO (7.2) is left out: ACL SETUSER rejects
# unknown commands on 7.0, and redis-py ignores a refused SETINFO.
CONNECTION = (
    "ping",
    "echo",
    "hello",
    "auth",
    "reset",
    "client|setname",
    "client|getname",
    "client|id",
    "acl|whoami",
    "command",  # the cluster client reads key positions with COMMAND
    "cluster|slots",
    "cluster|shards",
    "readonly",
)
TRANSACTIONS = ("multi", "exec", "discard", "watch", "unwatch")
READS = (
    "get",
    "mget",
    "exists",
    "type",
    "ttl",
    "pttl",
    "strlen",
    "hget",
    "hmget",
    "hgetall",
    "hkeys",
    "hvals",
    "hlen",
    "hexists",
    "hstrlen",
    "hscan",
    "zrange",
    "zrangebyscore",
    "zrevrange",
    "zrevrangebyscore",
    "zcount",
    "zcard",
    "zscore",
    "zmscore",
    "zinter",
    "zrank",
    "zrevrank",
    "zscan",
    "xrange",
    "xrevrange",
    "xlen",
    "xread",
    "xinfo|stream",
)
SUBSCRIBE = ("subscribe", "unsubscribe")
SCRIPTS = ("evalsha", "script|load", "script|exists")
# Which of our scripts each writing role runs. EVALSHA is granted only with these scripts'
# SHA-1 as its first argument, so SCRIPT LOAD of any other script gives nothing to run,
# and EVAL (any script at all) is not granted.
ROLE_SCRIPTS = {
    "responder": ("apply_change",),
    "agent": ("budget_reserve", "budget_commit", "breaker_transition", "kill_ack", "kill_rows"),
}


def script_sha(name: str) -> str:
    from agentconsole.control import lua

    return hashlib.sha1(lua.source(name).encode()).hexdigest()


def lock_script_shas() -> tuple[str, ...]:
    """redis-py's Lock scripts (renew, release): the rollout controller's lease uses them."""
    from redis.asyncio.lock import Lock

    scripts = (Lock.LUA_EXTEND_SCRIPT, Lock.LUA_REACQUIRE_SCRIPT, Lock.LUA_RELEASE_SCRIPT)
    return tuple(hashlib.sha1(text.encode()).hexdigest() for text in scripts)


def _scripts(role: str, everything: str, *more_keys: str) -> Grant:
    shas = tuple(f"evalsha|{script_sha(name)}" for name in ROLE_SCRIPTS[role])
    if role == "responder":
        shas += tuple(f"evalsha|{sha}" for sha in lock_script_shas())
    return Grant(
        ("script|load", "script|exists", *shas),
        keys=(f"~{everything}", *(f"~{k}" for k in more_keys)),
        why=f"run only {', '.join(ROLE_SCRIPTS[role])} (EVALSHA pinned to their SHA-1); a script "
        "must name its keys, the commands inside are checked against the rest",
    )


# Commands that can destroy or rewrite history. No role below the admin is granted any of
# them on the audit stream; listed so the docs and tests can name what is refused.
AUDIT_REWRITES = (
    "del",
    "unlink",
    "xdel",
    "xtrim",
    "xsetid",
    "set",
    "rename",
    "renamenx",
    "copy",
    "restore",
    "expire",
    "pexpire",
    "expireat",
    "flushdb",
    "flushall",
    "swapdb",
)
AGENT_WRITES = (
    "set",  # the registry partitions' prune leases (SET NX EX)
    "hset",
    "hsetnx",
    "hdel",
    "hincrby",
    "hincrbyfloat",
    "zadd",
    "zrem",
    "zincrby",
    "zremrangebyscore",
    "expire",
    "pexpire",
    "publish",
)


@dataclass(frozen=True)
class Grant:
    """One set of permissions: the user's root rules, or one ``(...)`` selector.

    ``keys`` holds full Redis key rules: ``%R~pattern`` read-only, ``%W~pattern`` write-only,
    ``~pattern`` read-write. A command is allowed when one grant allows it with all its keys.
    """

    commands: tuple[str, ...]
    keys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    why: str = ""

    def rules(self) -> list[str]:
        out = ["-@all", *(f"+{c}" for c in _unique(self.commands))]
        out += list(self.keys)
        out += [f"&{c}" for c in self.channels]
        return out


@dataclass(frozen=True)
class RolePolicy:
    role: str
    user: str
    root: Grant
    selectors: tuple[Grant, ...] = ()
    summary: str = ""

    def rule_tokens(self) -> list[str]:
        """ACL rules after ``reset`` and the password, one token per selector."""
        tokens = self.root.rules()
        tokens += ["(" + " ".join(s.rules()) + ")" for s in self.selectors]
        return tokens


@dataclass
class Generated:
    """The output of :func:`generate`: lines for stdout, notes for stderr."""

    lines: list[str]
    notes: list[str] = field(default_factory=list)


def _unique(items: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(items))


def _registry(keys: Keys) -> str:
    """Every partition of the agent registry: hashes and indexes, written by agents and
    cleaned by a reaping responder."""
    return keys.registry_pattern


def _all(keys: Keys) -> str:
    return f"{keys.tag}:*"


def policies(keys: Keys, users: Mapping[str, str] | None = None) -> dict[str, RolePolicy]:
    """The four roles' permissions for one prefix (``users`` maps role -> Redis user name)."""
    names = {role: f"ac-{role}" for role in ROLES} | dict(users or {})
    everything = _all(keys)
    events = keys.events
    read_all = (f"%R~{everything}", f"%R~{_registry(keys)}")
    viewer = RolePolicy(
        "viewer",
        names["viewer"],
        Grant(
            (*CONNECTION, *TRANSACTIONS, *READS, *SUBSCRIBE, "info"),
            keys=read_all,
            channels=(events,),
            why="read every control-plane key, follow change events",
        ),
        summary="reads the control plane and follows change events; cannot write anything",
    )
    operator_owned = (
        keys.approvals,
        keys.flags,
        keys.breakers,
        keys.kills,
        keys.holds,
        keys.silences,
        keys.incident("*"),
        keys.incidents,
        keys.rollout_status,
    )
    responder = RolePolicy(
        "responder",
        names["responder"],
        Grant(
            (*viewer.root.commands, "hset", "hdel", "zadd", "zrem", "publish"),
            keys=(*read_all, *(f"~{k}" for k in operator_owned)),
            channels=(events,),
            why="read everything; write flags, breakers, kills, silences, incidents",
        ),
        (
            _scripts("responder", everything),
            Grant(("xadd",), keys=(f"%W~{keys.audit}",), why="append to the audit stream only"),
            Grant(("incr",), keys=(f"~{keys.version}",), why="bump the control-plane version"),
            Grant(
                ("set",),
                keys=(f"~{keys.change('*')}",),
                why="remember a change's id and outcome (exactly once after a lost reply)",
            ),
            Grant(
                ("del", "zrem", "zremrangebyscore"),
                keys=(f"~{_registry(keys)}",),
                why="reap agents that stopped heartbeating",
            ),
            Grant(
                ("set", "pexpire", "del"),
                keys=(f"~{keys.rollout_lease}",),
                why="take, renew and hand over the rollout controller's lease",
            ),
        ),
        summary="viewer + flags, breakers, kills, silences, incidents (audited via "
        "apply_change); not budgets; append-only on the audit stream",
    )
    admin = RolePolicy(
        "admin",
        names["admin"],
        Grant(
            ("@all", "-@dangerous", "-@admin", "info", "acl|whoami"),
            keys=(f"~{everything}", f"~{_registry(keys)}"),
            channels=(events,),
            why="everything under the prefix, nothing server-wide",
        ),
        summary="every command on every key under the prefix; no server administration",
    )
    agent_owned = (
        _registry(keys),
        keys.breaker_state,
        keys.breaker_window("*"),
        keys.usage("*"),
        keys.reservations("*"),
        keys.reset_holders,
    )
    agent_reads = (
        keys.flags,
        keys.breakers,
        keys.kills,
        keys.holds,
        keys.budgets,
        keys.version,
        keys.schema,
        keys.epoch,
        keys.registry_partitions,
    )
    agent = RolePolicy(
        "agent",
        names["agent"],
        Grant(
            (*CONNECTION, *TRANSACTIONS, *READS, *SUBSCRIBE, *AGENT_WRITES),
            keys=(*(f"%R~{k}" for k in agent_reads), *(f"~{k}" for k in agent_owned)),
            channels=(events,),
            why="read the controls; write its registry entry, breaker state and budget usage",
        ),
        (_scripts("agent", everything, _registry(keys)),),  # kill_rows names agents' rows
        summary="reads controls; writes registry, breaker state, budget usage/reservations; "
        "cannot change flags, kills, operator breaker modes, budget limits or the audit",
    )
    return {p.role: p for p in (viewer, responder, admin, agent)}


def person_policy(keys: Keys, name: str, role: str) -> RolePolicy:
    """One operator's own Redis user for ``control.writes: applier``.

    It reads what a viewer reads and may append only to its own request stream; the
    applier (holding the admin credential) decides what it may change and records it as
    this person. No write to any control-state key, no script, no audit entry.
    """
    viewer = policies(keys)["viewer"]
    selectors: tuple[Grant, ...] = ()
    if role != "viewer":
        selectors = (
            Grant(
                ("xadd",),
                keys=(f"%W~{keys.requests(name)}",),
                why="send change requests as itself: the stream's name is the actor",
            ),
        )
    return RolePolicy(
        role,
        name,
        viewer.root,
        selectors,
        summary=f"{role} through the applier: reads like a viewer; appends requests to "
        f"{keys.requests(name)} only",
    )


def controller_policy(keys: Keys, name: str, role: str) -> RolePolicy:
    """The rollout controller's own user in applier mode (the person named ``rollouts.actor``):
    a person's, plus its lease (redis-py's Lock scripts, pinned by SHA-1) and its status
    hash. Its plan decisions go through the applier like anyone's."""
    person = person_policy(keys, name, role)
    lease, status = keys.rollout_lease, keys.rollout_status
    shas = tuple(f"evalsha|{sha}" for sha in lock_script_shas())
    return RolePolicy(
        role,
        name,
        person.root,
        (
            *person.selectors,
            Grant(
                ("script|load", "script|exists", *shas),
                keys=(f"~{lease}",),
                why="renew and hand over its lease (redis-py's Lock scripts only)",
            ),
            Grant(("set", "pexpire", "del"), keys=(f"~{lease}",), why="take its lease"),
            Grant(("hset",), keys=(f"%W~{status}",), why="write each plan's last evaluation"),
        ),
        summary=f"rollout controller through the applier: {person.summary}; its lease and "
        "status hash",
    )


def person_password_env(name: str) -> str:
    return PASSWORD_ENV.format(role="PERSON_" + name.upper().replace("-", "_").replace(".", "_"))


def _render_commands(tokens: list[str]) -> list[str]:
    """``+-@dangerous`` -> ``-@dangerous`` (admin's grant lists removals among commands)."""
    return [t[1:] if t.startswith("+-") else t for t in tokens]


def password_rule(
    role: str, env: Mapping[str, str], nopass: bool, var: str = ""
) -> tuple[str, str | None]:
    """(rule, note): a SHA-256 ``#hash`` from the env, ``nopass`` if asked, else ``off``.

    The clear-text password is never printed: Redis accepts the hash in ``ACL SETUSER``.
    """
    var = var or PASSWORD_ENV.format(role=role.upper())
    secret = env.get(var)
    if secret:
        return "on #" + hashlib.sha256(secret.encode()).hexdigest(), None
    if nopass:
        return "on nopass", f"WARNING: {role} user has no password (nopass): local use only"
    return "off", (
        f"{role} user is created disabled (off): set ${var} and re-run, "
        f"or ACL SETUSER <user> on >PASSWORD"
    )


def generate(
    keys: Keys,
    *,
    fmt: str = "setuser",
    users: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    nopass: bool = False,
    keep_default: bool = False,
    roles: tuple[str, ...] = ROLES,
    people: Mapping[str, str] | None = None,
    controller: str | None = None,
) -> Generated:
    """ACL lines for ``roles`` and for each of ``people`` (name -> role, applier mode; the
    one named ``controller`` is the rollout controller): ``ACL SETUSER`` commands or
    aclfile ``user`` lines."""
    env = os.environ if env is None else env
    out = Generated([])
    table = policies(keys, users)
    chosen = [(table[role], role, "") for role in roles]
    for person, role in (people or {}).items():
        var = person_password_env(person)
        make = controller_policy if person == controller else person_policy
        chosen.append((make(keys, person, role), f"{person} ({role})", var))
    for policy, role, var in chosen:
        pw, note = password_rule(role, env, nopass, var)
        if note:
            out.notes.append(note)
        rules = _render_commands(policy.rule_tokens())
        if fmt == "setuser":
            quoted = [f'"{r}"' if " " in r else r for r in rules]
            out.lines.append(" ".join(["ACL SETUSER", policy.user, "reset", pw, *quoted]))
        else:
            out.lines.append(" ".join(["user", policy.user, "reset", pw, *rules]))
    if "responder" in roles:
        out.notes.append(
            "the responder user writes control state directly (direct mode: trusted "
            "operators only; docs/security.md); for credentials that cannot forge it, run "
            "`agentconsole applier` and give people their own users with --people"
        )
    if fmt == "aclfile":
        if not keep_default:
            out.lines.append("user default off resetpass resetkeys resetchannels -@all")
            out.notes.append(
                "the aclfile turns the 'default' user off: add your own superuser line "
                "before loading it (or pass --keep-default and give 'default' a password)"
            )
        else:
            out.notes.append(
                "WARNING: without a 'user default' line Redis creates 'default' with no "
                "password and full access, which makes every restriction above moot"
            )
    else:
        out.notes.append(
            "the 'default' user keeps whatever access it has: give it a password or "
            "ACL SETUSER default off once your own superuser exists; then ACL SAVE"
        )
    return out


def describe(keys: Keys, users: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Machine-readable form (``--json``): role, user, summary, grants with their reasons."""
    rows = []
    for policy in policies(keys, users).values():
        grants = [policy.root, *policy.selectors]
        rows.append(
            {
                "role": policy.role,
                "user": policy.user,
                "summary": policy.summary,
                "grants": [
                    {
                        "commands": _render_commands([f"+{c}" for c in g.commands]),
                        "keys": list(g.keys),
                        "channels": list(g.channels),
                        "why": g.why,
                    }
                    for g in grants
                ],
            }
        )
    return rows


# --- audit stream tamper evidence -----------------------------------------------------------


@dataclass
class AuditIntegrity:
    """What the audit stream's own counters say about deletions.

    Redis counts every entry ever added to a stream (``entries-added``), and only XSETID,
    which no role below admin holds, can change that count. ``length`` can fall below it
    legitimately only through the approximate MAXLEN trim, and that trim keeps at least
    ``maxlen`` entries. Every ``apply_change`` adds one entry and bumps the version once.
    Reaping adds entries without a bump. So ``entries_added >= version`` unless the stream
    was deleted and started again.

    Forged entries can't be told apart: anyone allowed to append can imitate a real one.
    """

    version: int
    length: int
    entries_added: int
    max_deleted_id: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (
            f"audit stream: {self.length} entries, {self.entries_added} ever added, "
            f"control-plane version {self.version}"
        )
        return head + (": intact" if self.ok else ": " + "; ".join(self.problems))


async def check_audit_integrity(redis: RedisClient, keys: Keys, maxlen: int) -> AuditIntegrity:
    """Compare the audit stream's counters with the version counter (read-only; viewer ok)."""
    from redis import exceptions as rex

    from agentconsole.control import codec

    version = int(codec.number(await redis.get(keys.version)))
    try:
        info = await redis.xinfo_stream(keys.audit)
    except rex.ResponseError as exc:
        if "no such key" not in str(exc).lower():
            raise
        info = None
    problems: list[str] = []
    if info is None:
        if version > 0:
            problems.append(f"the audit stream is missing but {version} changes were made")
        return AuditIntegrity(version, 0, 0, "0-0", problems)
    info = {codec.lenient_text(k): v for k, v in info.items()}
    length = int(info.get("length", 0))
    added = int(info.get("entries-added", length))
    max_deleted = codec.lenient_text(info.get("max-deleted-entry-id")) or "0-0"
    if added < version:
        problems.append(
            f"only {added} entries were ever added but {version} changes were made "
            "(the stream was deleted and started again)"
        )
    if length < added and length < maxlen:
        problems.append(f"{added - length} entries were removed (XDEL, XTRIM or MAXLEN)")
    if max_deleted != "0-0":
        problems.append(f"entries were deleted by XDEL (up to id {max_deleted})")
    return AuditIntegrity(version, length, added, max_deleted, problems)
