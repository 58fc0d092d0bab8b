"""One acting rollout controller among several: an expiring lease in Redis, renewed by its holder.

redis-py's ``Lock`` does the work (a token in ``SET NX PX``; renew and release only with the
token, atomically). A holder that dies stops renewing, and a standby takes the lease once
it expires: within ``lease_seconds``. A holder that cannot renew (Redis unreachable, or it
stalled past the expiry and someone else took over) stops acting at once. The lease alone
cannot stop a holder that stalls mid-decision; the flag's compare-and-set can: every
controller change names the flag version it judged, so two controllers can never both
apply a decision to the same state.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from typing import TYPE_CHECKING

from agentconsole.control.keys import Keys

if TYPE_CHECKING:
    from agentconsole.control.connection import RedisClient


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    def __init__(
        self, redis: RedisClient, keys: Keys, seconds: float, holder: str | None = None
    ) -> None:
        self.redis = redis
        self.key = keys.rollout_lease
        self.seconds = seconds
        self.holder = holder or holder_id()
        self.held = False
        self._lock = redis.lock(self.key, timeout=seconds, thread_local=False)

    async def keep(self) -> bool:
        """Take the lease if it is free, renew it if ours; returns whether we hold it now."""
        from redis.exceptions import LockError

        try:
            if self.held:
                await self._lock.reacquire()
            else:
                self.held = bool(await self._lock.acquire(blocking=False, token=self.holder))
        except LockError:  # not ours any more (expired and taken over)
            self.held = False
        except Exception:
            self.held = False  # cannot reach Redis: act as if not held, decide nothing
            raise
        return self.held

    async def release(self) -> None:
        """Hand over at once on a clean stop (a standby need not wait for the expiry)."""
        from redis.exceptions import LockError

        if self.held:
            self.held = False
            with contextlib.suppress(LockError):
                await self._lock.release()

    async def current_holder(self) -> tuple[str | None, float | None]:
        """Who holds the lease and for how many more seconds (None, None when free)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key)
        pipe.pttl(self.key)
        holder, ttl = await pipe.execute()
        if holder is None:
            return None, None
        text = holder.decode("utf-8", "replace") if isinstance(holder, bytes) else str(holder)
        return text, (ttl / 1000 if ttl and ttl > 0 else None)
