"""Pages of a tenant and/or status filter: the Agents view's filtered, sorted paging.

Why a module of its own: a filtered page is a small query planner (the filter's few
candidates enumerated and ranked, or the order's own pages scanned until the page is full,
whichever costs less), with its own readers and its own cut (``pages.Page``). The
registry's writes and its other reads never need it, and what a filter costs is decided
here alone. It reads through the registry's helpers (its pipeline, partition grouping, the
order's pages) and is reached through ``Registry.page``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentconsole.control import codec, pages
from agentconsole.control.registry import CHECK_FIELDS, HELD, SETTLED, STATUSES

if TYPE_CHECKING:
    from agentconsole.control.keys import PartitionKeys
    from agentconsole.control.registry import Registry

ENUMERATE = 4  # a filter of up to this many pages of candidates is read whole (ZINTER)
ENUMERATED, SCANNED = 0, 1  # the two ways to read a filtered page (``page``)
SCAN_CHUNK = 8  # a scan reads at most this many pages' worth of members per round


@dataclass
class Filter:
    """A tenant and/or status filter: the indexes every match is in, the status only a
    row tells, and (when known to be few) the candidates themselves, per partition."""

    tenant: str | None
    stored: tuple[str, ...]  # status indexes (STORED_STATUSES, HELD) every match is in
    derived: str | None
    ids: dict[int, list[str]] | None = None

    def keys(self, part: PartitionKeys) -> list[str]:
        out = [part.by_tenant(self.tenant)] if self.tenant is not None else []
        return out + [part.by_status(s) for s in self.stored]


_Item = tuple[str, tuple[int, ...], tuple[int, ...]]  # id, scan position at it, just after it


class _Reader:
    """An ordered run of candidates read a chunk at a time from a scan position."""

    def origin(self) -> tuple[int, ...]:
        raise NotImplementedError

    async def forward(
        self, pos: tuple[int, ...] | None, n: int
    ) -> tuple[list[_Item], tuple[int, ...] | None]:
        """Up to ``n`` candidates from ``pos`` on, and where the next chunk starts (None:
        the end)."""
        raise NotImplementedError

    async def backward(
        self, pos: tuple[int, ...] | None, n: int
    ) -> tuple[list[_Item], tuple[int, ...] | None]:
        """Up to ``n`` candidates before ``pos`` (None: the end), nearest first, and where
        the chunk before starts (None: the front)."""
        raise NotImplementedError


class _ListReader(_Reader):
    """A filter's candidates, enumerated and ranked; the position is an index."""

    def __init__(self, ranked: list[tuple[str, float]]) -> None:
        self.ids = [i for i, _ in ranked]

    def origin(self) -> tuple[int, ...]:
        return (0,)

    async def forward(
        self, pos: tuple[int, ...] | None, n: int
    ) -> tuple[list[_Item], tuple[int, ...] | None]:
        a = pos[0] if pos else 0
        span = range(a, min(a + n, len(self.ids)))
        items: list[_Item] = [(self.ids[k], (k,), (k + 1,)) for k in span]
        after: tuple[int, ...] | None = (a + n,) if a + n < len(self.ids) else None
        return items, after

    async def backward(
        self, pos: tuple[int, ...] | None, n: int
    ) -> tuple[list[_Item], tuple[int, ...] | None]:
        b = len(self.ids) if pos is None else min(pos[0], len(self.ids))
        lo = max(0, b - n)
        items: list[_Item] = [(self.ids[k], (k,), (k + 1,)) for k in range(b - 1, lo - 1, -1)]
        before: tuple[int, ...] | None = (lo,) if lo > 0 else None
        return items, before


class _OrderReader(_Reader):
    """The order's own pages (every agent); the position is a page cut (``pages``)."""

    def __init__(self, registry: Registry, order: str, descending: bool, parts: int) -> None:
        self.registry, self.order, self.descending, self.parts = registry, order, descending, parts

    def origin(self) -> tuple[int, ...]:
        return (0,) * self.parts

    def _items(self, page: pages.Page) -> list[_Item]:
        keys = self.registry.plane.keys
        at = list(page.start)
        items: list[_Item] = []
        for agent_id in page.ids:
            here = tuple(at)
            at[keys.partition_of(agent_id)] += 1
            items.append((agent_id, here, tuple(at)))
        return items

    async def forward(
        self, pos: tuple[int, ...] | None, n: int
    ) -> tuple[list[_Item], tuple[int, ...] | None]:
        cut = pos or self.origin()
        page = await self.registry._order_page(self.order, "at", cut, n, self.descending)
        return self._items(page), (page.next_start if page.has_next else None)

    async def backward(
        self, pos: tuple[int, ...] | None, n: int
    ) -> tuple[list[_Item], tuple[int, ...] | None]:
        where: pages.Where = "last" if pos is None else "before"
        page = await self.registry._order_page(self.order, where, pos or (), n, self.descending)
        return self._items(page)[::-1], (page.start if page.has_previous else None)


async def _scan(
    read: Any, start: tuple[int, ...] | None, want: int, accept: Any
) -> tuple[list[_Item], bool]:
    """The first ``want`` accepted candidates from ``start`` in ``read``'s direction, and
    whether more may follow. Chunks grow (a page, then twice that, up to ``SCAN_CHUNK``
    pages) while matches are sparse."""
    found: list[_Item] = []
    pos: tuple[int, ...] | None = start
    chunk = want + want // 4 + 16
    first = True
    while first or pos is not None:
        items, pos = await read(pos, chunk)
        first = False
        ok = await accept([i for i, _, _ in items])
        hits = [item for item in items if item[0] in ok]
        found += hits
        if len(found) > want:
            return found[:want], True
        if len(found) == want:
            return found, pos is not None  # the rest of this chunk did not match
        chunk = min(chunk * 2, SCAN_CHUNK * want + 16)
    return found, False


def _decode(cut: tuple[int, ...], parts: int) -> tuple[int | None, tuple[int, ...] | None, int]:
    """A filtered page's cut -> (way, scan position, position); (None, None, 0): none."""
    if len(cut) >= 3 and cut[0] == ENUMERATED and len(cut) == 3:
        return ENUMERATED, cut[1:2], cut[2]
    if len(cut) == parts + 2 and cut[0] == SCANNED:
        return SCANNED, cut[1:-1], cut[-1]
    return None, None, 0


async def filter_for(registry: Registry, tenant: str | None, status: str | None) -> Filter:
    """What a tenant and/or a status filter reads.

    A stored status (killed, finished, failed) is its index. The statuses a reader
    derives from the row (running, paused, draining, killing, dead) are candidates of
    the running index whose rows are checked; where a smaller candidate list is known
    it is read instead of the running index: the silent agents for ``dead``, the
    agents of the kills in force for ``killing`` (unless one is of the whole fleet);
    ``paused`` and ``draining`` have indexes of their own (what agents reported).
    """
    if status is None or status in SETTLED:
        return Filter(tenant, (status,) if status else (), None)
    if status not in STATUSES:  # no agent shows it: nothing to read
        return Filter(tenant, ("running",), status, {})
    if status in HELD:  # its own index (of what agents reported), checked by the row
        return Filter(tenant, ("running", status), status)
    flt = Filter(tenant, ("running",), status)
    k = registry.plane.keys
    if flt.derived == "running":
        return flt
    if flt.derived == "dead":
        since = time.time() - registry.dead_after
        async with registry._pipe() as pipe:
            for part in k.all_partitions():
                pipe.zrangebyscore(part.by_heartbeat, "-inf", f"({since}")
            rows = await pipe.execute()
        flt.ids = {n: [codec.lenient_text(i) for i in row] for n, row in enumerate(rows)}
        return flt
    targets = await registry._kill_targets()  # killing
    if "all" in targets:
        return flt
    scoped = [t.partition(":") for t in targets]  # "agent:<id>", "tenant:<name>"
    agents = [name for scope, _, name in scoped if scope == "agent"]
    tenants = sorted(name for scope, _, name in scoped if scope == "tenant")
    if tenant is not None:
        tenants = [t for t in tenants if t == tenant]
    ids: dict[int, set[str]] = defaultdict(set)
    for n, members in registry._by_partition(agents).items():
        ids[n].update(members)
    if tenants:
        parts = k.all_partitions()
        async with registry._pipe() as pipe:
            for part in parts:
                for name in tenants:
                    pipe.zrange(part.by_tenant(name), 0, -1)
            rows = iter(await pipe.execute())
        for n in range(len(parts)):
            for _ in tenants:
                ids[n].update(codec.lenient_text(i) for i in next(rows))
    flt.ids = {n: sorted(members) for n, members in ids.items()}
    return flt


async def page(
    registry: Registry,
    order: str,
    size: int,
    where: pages.Where,
    cut: tuple[int, ...],
    descending: bool,
    flt: Filter,
) -> pages.Page:
    """A page of a filter's matches in ``order``: what it costs is what it shows.

    Two ways to read it, chosen by the filter's size (ZCARDs) against the fleet's:
    - *enumerated*: the filter's candidates are few (a tenant, the silent agents, the
      agents of the kills in force, a status under ``ENUMERATE`` pages' worth): one
      ZINTER per partition with the order's index (or a ZMSCORE of the listed ids),
      ranked; rows are read only as far as the page reaches.
    - *scanned*: the filter holds much of the fleet (``status:running``): the order's
      own pages are read from the cut on, a chunk at a time, and each member is tested
      against the filter's indexes (ZMSCORE) and, for a derived status, its row, until
      the page is full: it costs the page divided by the share of the fleet that
      matches, never the whole filter.
    Whichever is cheaper; at the crossover (about sqrt(3 x page x fleet) candidates,
    17,000 for a 1,000-row page of 100,000 agents) both read about that many members.
    The cut is ``(way, *scan position, position)`` (``pages.Page``).
    """
    order = registry._order_attr(order)
    parts = registry.plane.keys.all_partitions()
    mode, pos, position = _decode(cut, len(parts))
    if where in ("first", "last") or mode is None:
        mode, pos, position = None, None, 0
    sized = await _filter_sizes(registry, order, flt)
    fleet, candidates, count = sized
    if mode is None:
        few = flt.ids is not None or candidates <= ENUMERATE * size
        few = few or candidates * candidates <= 3 * size * fleet
        mode = ENUMERATED if few else SCANNED
    reader: _Reader
    bound = candidates
    if mode == ENUMERATED:
        ranked = await _enumerate(registry, order, flt, descending)
        bound = len(ranked)
        if flt.derived is None:
            count = len(ranked)
        reader = _ListReader(ranked)
    else:
        reader = _OrderReader(registry, order, descending, len(parts))

    async def accept(ids: list[str]) -> set[str]:
        return await _accept(registry, ids, flt, mode == SCANNED)

    def made(items: list[_Item], at: int, sides: tuple[bool, bool]) -> pages.Page:
        if not items:
            empty = (mode, *reader.origin(), at)
            return pages.Page(
                [], empty, (0,), (max(bound, 0),), True, empty, at, count, sides, bound
            )
        first, last = items[0][1], items[-1][2]
        after = at + len(items) if at >= 0 else -1
        return pages.Page(
            [i for i, _, _ in items],
            (mode, *first, at),
            (len(items),),
            (max(bound, 0),),
            True,
            (mode, *last, after),
            at,
            count,
            sides,
            bound,
        )

    if where in ("first", "at"):
        start = reader.origin() if where == "first" or pos is None else pos
        items, more = await _scan(reader.forward, start, size, accept)
        at = 0 if where == "first" else position
        if not items and where == "at" and at != 0:
            return await page(registry, order, size, "last", (), descending, flt)
        before = at > 0 if at >= 0 else any(start)
        return made(items, at, (before, more))
    # before a cut, or the last page: scanned backwards, nearest first
    back = None if where == "last" or pos is None else pos
    items, more = await _scan(reader.backward, back, size, accept)
    items.reverse()
    if not more:  # reached the front: this is the first page (short, as an order's is)
        at = 0
    elif where == "last":
        at = count - len(items) if count >= 0 else -1
    else:
        at = max(0, position - len(items)) if position >= 0 else -1
    return made(items, at, (more, where != "last"))


async def _filter_sizes(registry: Registry, order: str, flt: Filter) -> tuple[int, int, int]:
    """(the fleet in the order's index, the filter's candidates at most, the filter's
    count when its one index tells it, else -1): ZCARDs."""
    parts = registry.plane.keys.all_partitions()
    async with registry._pipe() as pipe:
        for part in parts:
            pipe.zcard(part.by_order(order))
            for key in flt.keys(part):
                pipe.zcard(key)
        raw = [int(v) for v in await pipe.execute()]
    width = 1 + len(flt.keys(parts[0]))
    fleet = sum(raw[0::width])
    per_part = [raw[i + 1 : i + width] for i in range(0, len(raw), width)]
    if flt.ids is not None:
        candidates = sum(len(m) for m in flt.ids.values())
    else:
        candidates = sum(min(sizes) for sizes in per_part)
    single = flt.ids is None and flt.derived is None and width == 2
    return fleet, candidates, candidates if single else -1


async def _enumerate(
    registry: Registry, order: str, flt: Filter, descending: bool
) -> list[tuple[str, float]]:
    """Every candidate of a small filter, ranked by ``order`` (best first)."""
    parts = registry.plane.keys.all_partitions()
    rows: list[list[tuple[str, float]]] = []
    async with registry._pipe() as pipe:
        for n, part in enumerate(parts):
            if flt.ids is None:
                weights = {part.by_order(order): 1, **dict.fromkeys(flt.keys(part), 0)}
                pipe.zinter(weights, withscores=True)
            elif flt.ids.get(n):
                for key in (part.by_order(order), *flt.keys(part)):
                    pipe.zmscore(key, flt.ids[n])
        raw = iter(await pipe.execute())
    for n, part in enumerate(parts):
        if flt.ids is None:
            rows.append([(codec.lenient_text(i), float(v)) for i, v in next(raw)])
        elif flt.ids.get(n):
            scores = [next(raw) for _ in range(1 + len(flt.keys(part)))]
            rows.append(
                [
                    (agent_id, float(found[0]))
                    for agent_id, *found in zip(flt.ids[n], *scores, strict=True)
                    if all(v is not None for v in found)
                ]
            )
    ranked = sorted(((s, i) for row in rows for i, s in row), reverse=True)
    out = [(i, s) for s, i in ranked]
    return out if descending else out[::-1]


async def _accept(registry: Registry, ids: list[str], flt: Filter, test_index: bool) -> set[str]:
    """The ones of ``ids`` that match: in every index of the filter (when not known to
    be), and of the derived status (their rows read)."""
    if not ids:
        return set()
    keep = ids
    if test_index:
        groups = registry._by_partition(ids)
        async with registry._pipe() as pipe:
            for n, members in groups.items():
                for key in flt.keys(registry.plane.keys.partition(n)):
                    pipe.zmscore(key, members)
            raw = iter(await pipe.execute())
        keep = []
        for n, members in groups.items():
            width = len(flt.keys(registry.plane.keys.partition(n)))
            found = [next(raw) for _ in range(width)]
            keep += [m for m, *s in zip(members, *found, strict=True) if None not in s]
    if flt.derived is None:
        return set(keep)
    rows = await registry.get_many(keep, CHECK_FIELDS)
    return {r.id for r in rows if r.status == flt.derived}
