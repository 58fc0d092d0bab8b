"""Pages of the registry's order: forward, back and to the end, every agent exactly once."""

from __future__ import annotations

import random

from agentconsole.control.pages import merge, ranges
from agentconsole.control.registry import AgentRecord


def fleet(n: int, seed: int = 3) -> list[AgentRecord]:
    rnd = random.Random(seed)
    # few distinct costs: most members tie with members of other partitions
    return [
        AgentRecord(id=f"p{i:04d}", tenant=f"t{i % 7}", cost=rnd.randint(0, 20) / 10)
        for i in range(n)
    ]


async def walk_forward(plane, size: int, descending: bool = True, **flt) -> list[list[str]]:
    page = await plane.agents.page("cost", size, descending=descending, **flt)
    seen = [page.ids]
    while page.has_next:
        page = await plane.agents.page(
            "cost", size, where="at", cut=page.next_start, descending=descending, **flt
        )
        seen.append(page.ids)
    return seen


async def test_paging_forward_visits_every_agent_once_in_cost_order(plane):
    records = fleet(500)
    await plane.agents.write_many(records)
    cost = {r.id: r.cost for r in records}
    pages = await walk_forward(plane, 37)
    ids = [i for p in pages for i in p]
    assert len(ids) == len(set(ids)) == 500
    assert [cost[i] for i in ids] == sorted(cost.values(), reverse=True)
    assert all(len(p) == 37 for p in pages[:-1]) and len(pages[-1]) == 500 % 37
    ascending = [i for p in await walk_forward(plane, 50, descending=False) for i in p]
    assert [cost[i] for i in ascending] == sorted(cost.values())


async def test_the_last_page_and_paging_back_give_the_same_pages(plane):
    await plane.agents.write_many(fleet(300))
    forward = await walk_forward(plane, 40)
    page = await plane.agents.page("cost", 40, where="last")
    assert page.ids == [i for p in forward for i in p][-40:]
    assert page.position + len(page.ids) == page.total == 300
    back = [page.ids]
    while page.has_previous:
        page = await plane.agents.page("cost", 40, where="before", cut=page.start)
        back.append(page.ids)
    ids = [i for p in reversed(back) for i in p]
    assert ids == [i for p in forward for i in p]


async def test_a_cut_past_the_end_gives_the_last_page(plane):
    await plane.agents.write_many(fleet(30))
    far = tuple([1000] * plane.keys.partitions)
    page = await plane.agents.page("cost", 10, where="at", cut=far)
    assert len(page.ids) == 10 and page.position == 20


async def test_a_tenant_page_reads_only_that_tenant(plane):
    records = fleet(210)
    await plane.agents.write_many(records)
    t3 = {r.id for r in records if r.tenant == "t3"}
    pages = await walk_forward(plane, 7, tenant="t3")
    ids = [i for p in pages for i in p]
    assert sorted(ids) == sorted(t3) and len(ids) == 30
    last = await plane.agents.page("cost", 7, where="last", tenant="t3")
    assert last.ids == ids[-7:] and last.position == 23


def test_merge_breaks_ties_by_partition_and_keeps_each_partition_in_order():
    slices = [[("a", 2.0), ("b", 1.0)], [("c", 2.0), ("d", 0.5)]]
    page = merge("first", (), 3, slices, [2, 2], descending=True)
    assert page.ids == ["a", "c", "b"] and page.taken == (2, 1)
    assert page.next_start == (2, 1) and page.has_next
    assert ranges("before", page.next_start, 3, 2) == [(0, 1), (0, 0)]
    assert ranges("before", (0, 0), 3, 2) == [None, None]


async def test_a_page_held_by_one_partition_is_read_again_in_full(plane):
    """Each partition is first asked for its share of a page; when one partition holds
    more of the page (the most expensive agents all hash to it), the page is read in full."""
    keys = plane.keys
    ids = [f"k{i:05d}" for i in range(3000)]
    hot = [i for i in ids if keys.partition_of(i) == 0][:60]
    rest = [i for i in ids if keys.partition_of(i) != 0][:340]
    records = [AgentRecord(id=i, cost=10 + n / 100) for n, i in enumerate(hot)]
    records += [AgentRecord(id=i, cost=(n % 17) / 10) for n, i in enumerate(rest)]
    await plane.agents.write_many(records)
    cost = {r.id: r.cost for r in records}
    first = await plane.agents.page("cost", 50)
    assert first.ids == sorted(hot, key=cost.get, reverse=True)[:50]
    for size in (7, 50, 120):
        ids_seen = [i for p in await walk_forward(plane, size) for i in p]
        assert [cost[i] for i in ids_seen] == sorted(cost.values(), reverse=True), size
        page = await plane.agents.page("cost", size, where="last")
        back = [page.ids]
        while page.has_previous:
            page = await plane.agents.page("cost", size, where="before", cut=page.start)
            back.append(page.ids)
        assert [i for p in reversed(back) for i in p] == ids_seen, size


def test_a_partition_short_of_its_share_marks_the_page_incomplete():
    # partition 0 gave all 2 it was asked for and its last is still inside the page
    slices = [[("a", 9.0), ("b", 8.0)], [("c", 1.0)]]
    page = merge("first", (), 3, slices, [10, 1], descending=True, asked=2)
    assert page.ids == ["a", "b", "c"] and not page.complete
    # partition 0's slice ends past the page's edge: nothing it did not give can be on it
    slices = [[("a", 9.0), ("b", 0.5)], [("c", 1.0), ("d", 0.9)]]
    page = merge("first", (), 3, slices, [10, 10], descending=True, asked=2)
    assert page.ids == ["a", "c", "d"] and page.complete
