"""A private redis-server per module with the ACL users that ``acl generate`` prints."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.fixtures.redis import RedisServer, start_redis

PREFIX = "sec"
# applier mode's people (control.operators) and their roles
PEOPLE = {
    "alice": "responder",
    "bob": "responder",
    "vera": "viewer",
    "ada": "admin",
    "rollout-controller": "responder",  # rollouts.actor: its lease and status hash too
}
CONTROLLER = "rollout-controller"


@dataclass
class AclRedis:
    server: RedisServer
    prefix: str
    passwords: dict[str, str]

    def settings(self, role: str, operator_role: str | None = None):
        """Settings connecting as ``role``'s Redis user; the client-side role may differ."""
        from agentconsole.config import Secret, Settings

        s = Settings()
        s.redis.url = self.server.url
        s.redis.prefix = self.prefix
        s.redis.username = f"ac-{role}"
        s.redis.password = Secret(self.passwords[role])
        s.operator.name = f"{role}-user"
        s.operator.role = operator_role or ("viewer" if role == "agent" else role)
        return s

    def root(self):
        """A synchronous client as the unrestricted default user (test setup and checks)."""
        import redis

        return redis.Redis.from_url(self.server.url)


def apply_acl(client, prefix: str, passwords: dict[str, str]) -> None:
    from agentconsole.control.acl import PASSWORD_ENV, generate
    from agentconsole.control.keys import Keys

    env = {PASSWORD_ENV.format(role=r.upper()): pw for r, pw in passwords.items()}
    for line in generate(Keys(prefix), env=env).lines:
        client.execute_command(*shlex.split(line))


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[AclRedis]:
    passwords = {r: secrets.token_hex(12) for r in ("viewer", "responder", "admin", "agent")}
    for server in start_redis():
        env = AclRedis(server, PREFIX, passwords)
        with env.root() as client:
            apply_acl(client, PREFIX, passwords)
            client.set(f"{{{PREFIX}}}:schema", 1)
        yield env


@pytest.fixture(scope="module")
def people(acl_redis: AclRedis) -> dict[str, str]:
    """Per-person Redis users as ``acl generate --people`` prints them; name -> password."""
    from agentconsole.control.acl import generate, person_password_env
    from agentconsole.control.keys import Keys

    passwords = {p: secrets.token_hex(12) for p in PEOPLE}
    env = {person_password_env(p): pw for p, pw in passwords.items()}
    with acl_redis.root() as root:
        made = generate(Keys(PREFIX), env=env, roles=(), people=PEOPLE, controller=CONTROLLER)
        for line in made.lines:
            root.execute_command(*shlex.split(line))
    return passwords


@pytest.fixture
async def plane_for(acl_redis: AclRedis) -> Iterator[Callable]:
    """Factory: a ControlPlane as a Redis user, optionally claiming another client-side role."""
    from agentconsole.control import ControlPlane, Operator

    made = []

    def make(role: str, operator_role: str | None = None) -> ControlPlane:
        s = acl_redis.settings(role, operator_role)
        cp = ControlPlane.from_settings(s, Operator(s.operator.name, s.operator.role))
        made.append(cp)
        return cp

    yield make
    for cp in made:
        await cp.close()
