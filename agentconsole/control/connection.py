"""Building the redis.asyncio client from settings: timeouts, secrets, TLS, Sentinel, Cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

from agentconsole.config import RedisSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

# What connect() builds: a plain (or Sentinel-managed) client, or a cluster client.
RedisClient: TypeAlias = "Redis | RedisCluster"


def connect(settings: RedisSettings, *, for_pubsub: bool = False) -> RedisClient:
    """A client that fails fast (connect timeout) instead of hanging an operator's terminal."""
    import redis.asyncio as aioredis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    kwargs: dict[str, Any] = {
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": None if for_pubsub else settings.socket_timeout,
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 1),
        "health_check_interval": 15,
    }
    if settings.username:
        kwargs["username"] = settings.username
    if settings.password:
        kwargs["password"] = settings.password.reveal()
    scheme = urlsplit(settings.url).scheme
    if scheme == "rediss":
        for key in ("ssl_ca_file", "ssl_certfile", "ssl_keyfile"):
            value = getattr(settings, key)
            if value:
                kwargs[{"ssl_ca_file": "ssl_ca_certs"}.get(key, key)] = value
    if scheme == "redis+cluster":
        from redis.asyncio.cluster import RedisCluster

        url = settings.url.replace("redis+cluster", "redis", 1)
        if for_pubsub:
            # A cluster delivers PUBLISH to every node, and redis-py's async cluster client
            # cannot subscribe: listen on the seed node with a plain connection.
            return aioredis.Redis.from_url(url, **kwargs)
        kwargs.pop("health_check_interval")
        return RedisCluster.from_url(url, **kwargs)
    from agentconsole.control.tolerant import TolerantRedis

    if scheme == "redis+sentinel":
        return _sentinel(settings, kwargs)
    if for_pubsub:
        return aioredis.Redis.from_url(settings.url, **kwargs)
    return TolerantRedis.from_url(settings.url, **kwargs)


def _sentinel(settings: RedisSettings, kwargs: dict[str, Any]) -> Redis:
    """redis+sentinel://host:port,host:port/service_name/db"""
    from redis.asyncio.sentinel import Sentinel

    parts = urlsplit(settings.url)
    hosts = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.partition(":")
        hosts.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    service = path[0] if path else "mymaster"
    db = int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(hosts, socket_connect_timeout=settings.connect_timeout)
    from agentconsole.control.tolerant import TolerantRedis

    client: Redis = sentinel.master_for(service, redis_class=TolerantRedis, db=db, **kwargs)
    return client
