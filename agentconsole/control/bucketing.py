"""Sticky percentage bucketing, compatible with Unleash at whole percents, finer below.

Unleash puts a key in bucket ``murmur3_32("{group}:{key}") % 100 + 1`` and enables the flag
when the bucket is <= the percentage. We keep that bucket as the coarse position and use the
next two decimal digits of the same hash to order keys inside it, giving 10,000 positions
(basis points). At a whole percent the two rules pick exactly the same keys, and raising a
rollout only ever adds keys, never swaps them.
"""

from __future__ import annotations

import mmh3

from agentconsole.text import percent

FULL = 10_000  # basis points in 100%
VARIANT_SEED = 86028157  # Unleash hashes variant choices with this murmur3 seed


def variant_target(group: str, key: str, total_weight: int) -> int:
    """Unleash's variant position, 1..total_weight: the first variant whose running weight
    reaches it is served. A different seed from the rollout's keeps the two independent."""
    return mmh3.hash(f"{group}:{key}", VARIANT_SEED, signed=False) % total_weight + 1


def unleash_hash(group: str, key: str) -> int:
    return mmh3.hash(f"{group}:{key}", 0, signed=False)


def unleash_bucket(group: str, key: str) -> int:
    """Unleash's normalised bucket, 1..100."""
    return unleash_hash(group, key) % 100 + 1


def position(group: str, key: str) -> int:
    """The key's position in 0..9999; in the rollout when position < rollout_bp."""
    h = unleash_hash(group, key)
    return (h % 100) * 100 + (h // 100) % 100


def in_rollout(rollout_bp: int, group: str, key: str | None) -> bool:
    if rollout_bp >= FULL:
        return True
    if rollout_bp <= 0 or key is None or key == "":
        return False
    return position(group, key) < rollout_bp


def parse_percent(text: str | float) -> int:
    """'12.5' or '12.5%' -> 1250 basis points, by the one grammar (``agentconsole.text``)."""
    return percent(text)


def format_bp(bp: int) -> str:
    return f"{bp / 100:g}%"
