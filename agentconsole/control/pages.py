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

A page of a tenant or a status is the order's members that match, read either from the
filter's few candidates ranked (a tenant, the silent agents) or by scanning the order's own
pages from the cut until the page is full (``status:running``): its cut is the scan
position, and ``Page`` carries what rank arithmetic cannot tell (``filtered_pages``).
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
    """One page of an order, and where it sits in the whole order.

    A filtered page (``Registry.page`` with a tenant or a status) is read by scanning an
    order for its matches: its cut is a scan position (``scan_cut``), and what the plain
    arithmetic of ranks cannot tell is given: the next page's cut, the position (``None``:
    not known, e.g. the last page of a status whose count needs every row read), the count
    of matches (``None``: the same) and whether pages lie either side.
    """

    ids: list[str]
    start: tuple[int, ...]  # the cut: per partition, the rank of the page's first member
    taken: tuple[int, ...]  # per partition: members on this page
    sizes: tuple[int, ...]  # per partition: members in the order (the index's size)
    # False: a partition read short of the page may hold more of it (read again, in full)
    complete: bool = True
    after: tuple[int, ...] | None = None  # the next page's cut, when not start + taken
    at: int | None = None  # position, when not sum(start); -1: not known
    count: int | None = None  # members in the order, when not sum(sizes); -1: not known
    sides: tuple[bool, bool] | None = None  # (has_previous, has_next), when given
    bound: int = 0  # a filtered page whose count is not known: at most this many

    @property
    def total(self) -> int:
        """Members of the order (-1: not known without reading every candidate's row)."""
        return sum(self.sizes) if self.count is None else self.count

    @property
    def position(self) -> int:
        """Members before this page in the whole order (0 on the first page; -1: not known)."""
        return sum(self.start) if self.at is None else self.at

    @property
    def next_start(self) -> tuple[int, ...]:
        if self.after is not None:
            return self.after
        return tuple(s + t for s, t in zip(self.start, self.taken, strict=True))

    @property
    def has_next(self) -> bool:
        if self.sides is not None:
            return self.sides[1]
        return self.position + len(self.ids) < self.total

    @property
    def has_previous(self) -> bool:
        if self.sides is not None:
            return self.sides[0]
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
