"""Retries and backoff with an injected clock, sleep and random: nothing really waits."""

import httpx
import pytest

from agentconsole.agent import BreakerConfig, BreakerOpen, DependencyError, RetryPolicy
from agentconsole.agent.retry import classify, parse_retry_after
from tests.agent.conftest import sample


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def policy(t: FakeTime, **kw) -> RetryPolicy:
    kw.setdefault("max_attempts", 4)
    kw.setdefault("base_delay", 0.5)
    return RetryPolicy(clock=t.clock, sleep=t.sleep, random=lambda: 1.0, **kw)


def http_error(status: int, retry_after: str | None = None) -> httpx.HTTPStatusError:
    headers = {"retry-after": retry_after} if retry_after else {}
    request = httpx.Request("POST", "https://llm.example/v1/chat")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"{status}", request=request, response=response)


class Flaky:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_errors_back_off_exponentially_then_succeed(runtime):
    t = FakeTime()
    fn = Flaky(http_error(503), TimeoutError(), ConnectionResetError())
    assert await runtime.call("llm", fn, retry=policy(t)) == "ok"
    assert fn.calls == 4
    assert t.slept == [0.5, 1.0, 2.0]  # full jitter at its ceiling (random() == 1)
    assert sample(runtime, "agent_retries_total", dependency="llm") == 3
    assert sample(runtime, "agent_dependency_errors_total", dependency="llm", error_type="timeout")


async def test_full_jitter_is_uniform_below_the_ceiling():
    p = RetryPolicy(base_delay=1.0, max_delay=4.0, random=lambda: 0.25)
    failure = classify(http_error(503))
    assert [p.delay(n, failure) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 1.0, 1.0]


async def test_retry_after_is_honoured(runtime):
    t = FakeTime()
    fn = Flaky(http_error(429, retry_after="7"))
    assert await runtime.call("llm", fn, retry=policy(t)) == "ok"
    assert t.slept == [7.0]
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


async def test_retry_after_beyond_the_deadline_gives_up_at_once(runtime):
    t = FakeTime()
    fn = Flaky(http_error(429, retry_after="120"))
    with pytest.raises(httpx.HTTPStatusError):
        await runtime.call("llm", fn, retry=policy(t, deadline=30))
    assert fn.calls == 1 and t.slept == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
async def test_client_and_server_errors_are_never_retried(runtime, status):
    t = FakeTime()
    fn = Flaky(http_error(status))
    with pytest.raises(httpx.HTTPStatusError):
        await runtime.call("llm", fn, retry=policy(t))
    assert fn.calls == 1 and t.slept == []


async def test_attempts_and_total_deadline_are_bounded(runtime):
    t = FakeTime()
    fn = Flaky(*[DependencyError("unavailable")] * 10)
    with pytest.raises(DependencyError):
        await runtime.call("llm", fn, retry=policy(t, max_attempts=3))
    assert fn.calls == 3
    t2 = FakeTime()
    fn2 = Flaky(*[DependencyError("unavailable")] * 10)
    with pytest.raises(DependencyError):
        await runtime.call("llm2", fn2, retry=policy(t2, max_attempts=10, deadline=3.0))
    assert t2.now <= 3.0 and fn2.calls == 3  # waits 0.5 + 1.0, the next 2.0 would pass 3 s


async def test_never_retries_while_the_breaker_is_open(make_runtime):
    rt = await make_runtime(breaker=BreakerConfig(window=4, min_calls=2))
    t = FakeTime()
    fn = Flaky(*[DependencyError("unavailable")] * 10)
    with pytest.raises(DependencyError):
        await rt.call("llm", fn, retry=policy(t, max_attempts=10))
    assert fn.calls == 2  # the second failure opened the breaker: no third attempt
    with pytest.raises(BreakerOpen):
        await rt.call("llm", fn, retry=policy(t))
    assert fn.calls == 2


async def test_caller_classifies_its_own_errors(make_runtime):
    from agentconsole.agent.retry import Failure

    class QuotaError(Exception):
        pass

    rt = await make_runtime(
        classify_error=lambda e: (
            Failure("rate_limited", retry_after=1.5) if isinstance(e, QuotaError) else classify(e)
        )
    )
    t = FakeTime()
    fn = Flaky(QuotaError())
    assert await rt.call("llm", fn, retry=policy(t)) == "ok"
    assert t.slept == [1.5]
