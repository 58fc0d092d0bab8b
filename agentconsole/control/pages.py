"""Pages of the registry's order: reach any agent of the fleet at the cost of one page.

Why: an operator must be able to page to the 100,000th agent without the console reading
100,000 agents. The registry's order (most cost, most tokens, freshest heartbeat) is the
merge of one sorted set per partition, so a page is named by a *cut*: for each partition,
the rank of the page's first member in that partition's index. Reading a page is one
``ZRANGE`` of ``size`` members per partition and a merge (ties: the lower partition
first), so it costs ``size × partitions`` members wherever the page sits; the next page
starts at the cut plus what each partition gave; the previous page and the last page are
read from the ranks just before the cut and from the index's tail. A cut made this way is
consistent (everything before it comes first in the merged order), so paging forward and
back visits every agent once while the fleet holds still; while it churns, a page is "the
members at these ranks now", like any offset pager.

A page of a tenant or a status (its own index intersected with the order's) has a cut of
one number, the rank in that ranked list: it costs the tenant or the status, not the fleet.
This module is pure (no Redis): ``Registry.page`` does the reads.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Where = Literal["first", "at", "before", "last"]
Member = tuple[float, int, int, str]  # (forward score, partition, rank in slice, id)


@dataclass(frozen=True)
class Page:
    """One page of an order, and where it sits in the whole order."""

    ids: list[str]
    start: tuple[int, ...]  # the cut: per partition, the rank of the page's first member
    taken: tuple[int, ...]  # per partition: members on this page
    sizes: tuple[int, ...]  # per partition: members in the order (the index's size)
    # False: a partition read short of the page may hold more of it (read again, in full)
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(self.sizes)

    @property
    def position(self) -> int:
        """Members before this page in the whole order (0 on the first page)."""
        return sum(self.start)

    @property
    def next_start(self) -> tuple[int, ...]:
        return tuple(s + t for s, t in zip(self.start, self.taken, strict=True))

    @property
    def has_next(self) -> bool:
        return self.position + len(self.ids) < self.total

    @property
    def has_previous(self) -> bool:
        return self.position > 0


def ranges(
    where: Where, cut: Sequence[int], size: int, partitions: int
) -> list[tuple[int, int] | None]:
    """Per partition, the forward ranks (inclusive, negative from the end) to read."""
    if where == "first" or (where == "at" and len(cut) != partitions):
        return [(0, size - 1)] * partitions
    if where == "last":
        return [(-size, -1)] * partitions
    if where == "at":
        return [(c, c + size - 1) for c in cut]
    if len(cut) != partitions:  # "before" a cut of another layout: the first page
        return [(0, size - 1)] * partitions
    return [(max(0, c - size), c - 1) if c > 0 else None for c in cut]


def first_read(size: int, partitions: int) -> int:
    """Members to ask each partition for: its share of a page and a margin (hashing spreads
    agents evenly), not a whole page each; a skewed page is read again in full."""
    return min(size, size * 3 // (2 * max(1, partitions)) + 16)


def merge(
    where: Where,
    cut: Sequence[int],
    size: int,
    slices: Sequence[Sequence[tuple[str, float]]],
    sizes: Sequence[int],
    descending: bool,
    asked: int | None = None,
) -> Page:
    """The page from each partition's slice (forward order, as ``ranges`` asked for).

    With ``asked`` below ``size``, a partition that gave all it was asked for may hold
    more of the page beyond its slice: unless its slice ends past the page's edge, the
    page is not ``complete``.
    """
    sign = -1.0 if descending else 1.0
    members: list[list[Member]] = [
        [(sign * float(score), part, i, agent_id) for i, (agent_id, score) in enumerate(rows)]
        for part, rows in enumerate(slices)
    ]
    merged = list(heapq.merge(*members))
    backward = where in ("before", "last")
    picked = merged[-size:] if backward else merged[:size]
    taken = [0] * len(slices)
    for _, part, _, _ in picked:
        taken[part] += 1
    if where == "last":
        start = [n - t for n, t in zip(sizes, taken, strict=True)]
    elif where == "before" and len(cut) == len(slices):
        start = [c - t for c, t in zip(cut, taken, strict=True)]
    elif where == "at" and len(cut) == len(slices):
        start = list(cut)
    else:
        start = [0] * len(slices)
    complete = True
    if asked is not None and asked < size:
        edge = (picked[0] if backward else picked[-1])[:2] if len(picked) == size else None
        for part, rows in enumerate(members):
            if not _has_more(where, cut, part, len(rows), sizes[part]):
                continue
            # the nearest member it did not give comes just past this one, in merge order
            end = (rows[0] if backward else rows[-1])[:2] if rows else None
            if edge is None or end is None or (end > edge if backward else end < edge):
                complete = False
                break
    ids = [m[3] for m in picked]
    return Page(ids, tuple(start), tuple(taken), tuple(sizes), complete)


def _has_more(where: Where, cut: Sequence[int], part: int, read: int, size: int) -> bool:
    """Whether a partition holds members beyond its slice on the page's side."""
    if where == "first" or (where == "at" and len(cut) <= part):
        return size > read
    if where == "at":
        return size > cut[part] + read
    if where == "last":
        return size > read
    return len(cut) > part and cut[part] - read > 0  # before: ranks left below the slice


def slice_ranked(where: Where, cut: Sequence[int], size: int, ranked: list[str]) -> Page:
    """A page of one ranked list (a tenant's or a status's agents, best first)."""
    total = len(ranked)
    at = cut[0] if len(cut) == 1 else 0
    if where == "first":
        at = 0
    elif where == "last":
        at = max(0, total - size)
    elif where == "before":
        at = max(0, at - size)
    at = min(at, max(0, total - 1))
    ids = ranked[at : at + size]
    return Page(ids, (at,), (len(ids),), (total,))
