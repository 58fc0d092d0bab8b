"""The Agents view's filters and sorts answer over the whole registry, not over a page.

Every filter (a tenant, a stored status, a status only the row tells: running, paused,
draining, killing, dead) and every indexed sort column (cost, tokens, steps, started,
heartbeat) is paged through with ``Registry.page`` and compared with a brute-force read of
every agent's row, sorted: the top N equals the brute force's top N, and paging forward
(or back from the last page) visits exactly the matching agents once. On one
redis-server and on the 3-master cluster.
"""

from __future__ import annotations

import random
import time

from agentconsole.control.registry import AgentRecord

N = 3000
SIZE = 100  # small pages: status:running (most of the fleet) is read by scanning


def fleet(now: float) -> list[AgentRecord]:
    rnd = random.Random(13)
    steps = list(range(N))
    rnd.shuffle(steps)
    out = []
    for i in range(N):
        status = "finished" if i % 17 == 3 else "failed" if i % 41 == 5 else "running"
        status = "paused" if i % 97 == 9 else "draining" if i % 89 == 8 else status
        out.append(
            AgentRecord(
                id=f"f{i:05d}",
                tenant=f"t{i % 12}",
                cost=rnd.randint(0, 10**6) / 1000 + i * 1e-7,  # distinct
                tokens_in=rnd.randint(0, 10**6) * N + i,
                steps=steps[i],
                started_at=now - 10_000 - i * 3.0,
                status=status,
            )
        )
    return out


async def fill(plane) -> list[AgentRecord]:
    now = time.time()
    records = fleet(now)
    for start in range(0, N, 1000):
        await plane.agents.write_many(records[start : start + 1000], at=now)
    silent = [r for r in records[::23] if r.status == "running"]
    await plane.agents.write_many(silent, at=now - 3 * plane.agents.dead_after)
    await plane.kills.kill(tenant="t5", reason="test")
    await plane.kills.kill(agent="f00002", reason="test")
    await plane.holds.hold("pause", tenant="t7", reason="test")
    await plane.holds.hold("drain", agent="f00008", reason="test")
    return records


SCORE = {
    "cost": lambda r: r.cost,
    "tokens": lambda r: float(r.tokens),
    "steps": lambda r: float(r.steps),
    "started": lambda r: r.started_at,
}


async def brute(plane, records, order, tenant=None, status=None, descending=True):
    rows = await plane.agents.get_many([r.id for r in records])
    hit = [
        r
        for r in rows
        if (tenant is None or r.tenant == tenant) and (status is None or r.status == status)
    ]
    hit.sort(key=lambda r: (SCORE[order](r), r.id), reverse=descending)
    return [r.id for r in hit]


async def forward(plane, order, descending=True, **flt) -> list[str]:
    page = await plane.agents.page(order, SIZE, descending=descending, **flt)
    ids = list(page.ids)
    while page.has_next:
        page = await plane.agents.page(
            order, SIZE, where="at", cut=page.next_start, descending=descending, **flt
        )
        ids += page.ids
    return ids


async def backward(plane, order, **flt) -> list[str]:
    page = await plane.agents.page(order, SIZE, where="last", **flt)
    pages = [page.ids]
    while page.has_previous:
        page = await plane.agents.page(order, SIZE, where="before", cut=page.start, **flt)
        pages.append(page.ids)
    return [i for p in reversed(pages) for i in p]


FILTERS = [
    {},
    {"status": "running"},
    {"status": "finished"},
    {"status": "failed"},
    {"status": "dead"},
    {"status": "killing"},
    {"status": "paused"},
    {"status": "draining"},
    {"tenant": "t3"},
    {"tenant": "t3", "status": "running"},
    {"tenant": "t5", "status": "killing"},
    {"tenant": "t7", "status": "paused"},
    {"status": "nonsense"},
]


async def check_every_filter(plane) -> None:
    records = await fill(plane)
    for flt in FILTERS:
        want = await brute(plane, records, "cost", **flt)
        got = await forward(plane, "cost", **flt)
        assert got == want, flt
        assert await backward(plane, "cost", **flt) == want, flt
        first = await plane.agents.page("cost", SIZE, **flt)
        assert first.ids == want[:SIZE], flt
        if first.total >= 0:
            assert first.total == len(want), flt
        listed = await plane.agents.list(order="cost", limit=SIZE, **flt)
        assert [r.id for r in listed] == want[:SIZE], flt
    for order in ("cost", "tokens", "steps", "started"):
        for descending in (True, False):
            want = await brute(plane, records, order, descending=descending)
            page = await plane.agents.page(order, SIZE, descending=descending)
            assert page.ids == want[:SIZE], (order, descending)
            running = await brute(plane, records, order, status="running", descending=descending)
            got = await forward(plane, order, descending=descending, status="running")
            assert got == running, (order, descending)


async def test_every_filter_and_sort_answers_over_the_whole_registry(plane):
    await check_every_filter(plane)


async def test_every_filter_and_sort_answers_over_the_whole_registry_on_a_cluster(
    cluster_plane,
):
    await check_every_filter(cluster_plane)
