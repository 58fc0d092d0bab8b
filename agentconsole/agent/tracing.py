"""The trace a run belongs to: the caller's OpenTelemetry trace when there is one.

Why: the console links an agent to its trace (``traces.url_template``). A run started
inside an OpenTelemetry span (an instrumented web handler, a LangChain callback) records
that span's trace id, so the link opens the trace the rest of the request is in. Without
OpenTelemetry (it is optional: ``agentconsole[otel]``) or outside a span, the run gets a
fresh random id of the same shape (32 hex digits, W3C trace-context), so logs and the
registry still agree on one id per run.
"""

from __future__ import annotations

import uuid


def current_trace_id() -> str | None:
    """The active OpenTelemetry span's trace id (32 hex digits), or None."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def new_trace_id() -> str:
    """The id of a run started outside any trace."""
    return current_trace_id() or uuid.uuid4().hex
