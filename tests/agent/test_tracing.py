"""A run records the trace it belongs to, so the console can link to it."""

import re

import pytest


async def test_a_run_outside_any_trace_gets_an_id_of_the_w3c_shape(make_runtime, plane):
    rt = await make_runtime()
    async with rt.run(task="triage", tenant="acme") as run:
        assert re.fullmatch(r"[0-9a-f]{32}", run.trace_id)
        record = await plane.agents.get(run.id)
    assert record is not None and record.trace_id == run.trace_id


async def test_a_run_inside_an_opentelemetry_span_records_that_trace(make_runtime, plane):
    trace = pytest.importorskip("opentelemetry.trace")
    context = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    rt = await make_runtime()
    with trace.use_span(trace.NonRecordingSpan(context)):
        async with rt.run(task="triage", tenant="acme") as run:
            record = await plane.agents.get(run.id)
    assert run.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert record is not None and record.trace_id == run.trace_id
    async with rt.run(task="triage", trace_id="given-1") as run:  # the caller's own id wins
        assert run.trace_id == "given-1"
