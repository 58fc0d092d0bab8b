"""HTTP to Prometheus: PromQL through prometheus-api-client, the rest through httpx.

Why the split: the user chose prometheus-api-client (``PrometheusConnect``) for PromQL. It is
synchronous (requests) and returns only ``data.result``: it drops Prometheus's ``warnings``
and raises on any non-200 without reading ``errorType``. So every query runs in a worker
thread of our own pool (never the event loop, never the default executor a hanging server
could starve), with our own urllib3 ``Retry``, and a requests response hook hands us the
whole response, from which we read the envelope ourselves: warnings, errorType and
Prometheus's own error message. What the library has no call for at all (alerts, rules,
Alertmanager API v2) goes through httpx, asynchronously.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentconsole.text import clean

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    from agentconsole.config import PrometheusSettings

MAX_MESSAGE = 300
POOL_SIZE = 32  # worker threads and pooled connections: every panel at once


class QueryFailure(Exception):
    """A failed query, with one of the error kinds of ``model.ERROR_KINDS``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Answer:
    """A successful ``/api/v1/query`` or ``/api/v1/query_range`` answer."""

    result_type: str
    result: Any
    warnings: list[str] = field(default_factory=list)


def one_line(text: Any, limit: int = MAX_MESSAGE) -> str:
    """Server text is data: one line, printable characters only, bounded length."""
    raw = "" if text is None else str(text)
    return clean(" ".join(raw[: 4 * limit].split()), limit)


def retry_policy() -> Retry:
    """Our retry: one quick retry of a refused connection or a proxy's 502, nothing else.

    Not retried: read errors and timeouts (a hanging server would double the wait), 503
    (Prometheus's query timeout: retrying doubles the load on a struggling server), 504 (same,
    seen through a proxy) and 429 (its Retry-After could outlast the panel timeout).
    """
    from urllib3.util.retry import Retry

    return Retry(
        total=2,
        connect=1,
        read=0,
        status=1,
        other=0,
        backoff_factor=0.1,
        status_forcelist=(502,),
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=False,
        raise_on_status=False,
    )


def tls_verify(settings: PrometheusSettings) -> bool | str:
    if not settings.verify_tls:
        return False
    return settings.ca_file or True


def auth_headers(settings: PrometheusSettings) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in settings.headers.items()}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token.reveal()}"
    return headers


def basic_auth(settings: PrometheusSettings) -> tuple[str, str] | None:
    if settings.username and settings.password:
        return (settings.username, settings.password.reveal())
    return None


def shown_url(url: str) -> str:
    """A URL for messages: never with ``user:password@`` in it."""
    parts = urlsplit(str(url))
    if parts.username is None and parts.password is None:
        return str(url).rstrip("/")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl().rstrip("/")


def base_url(url: str) -> str:
    """Keep a path prefix (``https://mimir.example/prometheus``), drop a trailing slash."""
    return url.rstrip("/")


class PromQL:
    """Synchronous PromQL calls; run them in a worker thread."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self.url = base_url(settings.url)
        self._local = threading.local()
        self._conn: PrometheusConnect | None = None
        self._lock = threading.Lock()

    def _connection(self) -> PrometheusConnect:
        with self._lock:
            if self._conn is None:
                import requests
                from prometheus_api_client import PrometheusConnect

                session = requests.Session()
                session.verify = tls_verify(self.settings)
                if session.verify is False:
                    # The operator chose it in config; a warning on stderr would only tear
                    # the console's screen.
                    import warnings

                    from urllib3.exceptions import InsecureRequestWarning

                    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
                session.hooks["response"].append(self._remember)
                self._conn = PrometheusConnect(
                    url=self.url,
                    headers=auth_headers(self.settings),
                    retry=retry_policy(),
                    auth=basic_auth(self.settings),
                    session=session,
                )
                # Same retry policy, with a pool as large as our worker pool (default: 10).
                from requests.adapters import HTTPAdapter

                adapter = HTTPAdapter(max_retries=retry_policy(), pool_maxsize=POOL_SIZE)
                session.mount(self.url, adapter)
            return self._conn

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._local.response = response
        return response

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def query(self, promql: str, timeout: float) -> Answer:
        conn = self._connection()
        params = {"timeout": f"{max(int(timeout * 1000), 100)}ms"}
        return self._call(lambda: conn.custom_query(promql, params=params, timeout=_t(timeout)))

    def query_range(
        self, promql: str, start: float, end: float, step: float, timeout: float
    ) -> Answer:
        """Range query; start, end and step in seconds (the library takes datetimes)."""
        from datetime import UTC, datetime

        conn = self._connection()
        params = {"timeout": f"{max(int(timeout * 1000), 100)}ms"}
        return self._call(
            lambda: conn.custom_query_range(
                promql,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}",
                params=params,
                timeout=_t(timeout),
            )
        )

    def _call(self, run: Callable[[], object]) -> Answer:
        import requests

        self._local.response = None
        url = shown_url(self.url)
        try:
            run()
        except requests.exceptions.JSONDecodeError:
            pass  # 200 but not JSON (a login page...): interpreted below
        except requests.exceptions.SSLError as exc:
            raise QueryFailure("unreachable", f"TLS failed for {url}: {_reason(exc)}") from None
        except requests.exceptions.ConnectTimeout:
            raise QueryFailure("unreachable", f"cannot connect to {url} (timed out)") from None
        except requests.exceptions.Timeout:
            raise QueryFailure("timeout", f"{url} did not answer in time") from None
        except requests.exceptions.ConnectionError as exc:
            raise QueryFailure("unreachable", f"cannot connect to {url}: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise QueryFailure("error", f"request to {url} failed: {_reason(exc)}") from None
        except Exception:  # PrometheusApiClientException, JSON errors: read the response below
            pass
        response = self._local.response
        if response is None:
            raise QueryFailure("error", f"no answer from {url}")
        return interpret(response.status_code, response.content, url)


def _t(timeout: float) -> tuple[float, float]:
    """(connect, read) for requests: a little above the panel timeout, so threads end soon."""
    return (min(timeout, 3.0), timeout + 0.5)


def _reason(exc: BaseException) -> str:
    """The innermost useful reason of a requests/urllib3 error, e.g. 'Connection refused'."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return one_line(found.group(1), 160)
    for marker in ("CERTIFICATE", "certificate", "SSL"):
        i = text.find(marker)
        if i >= 0:
            return one_line(text[i:].rstrip("')\"]"), 160)
    return one_line(text, 160)


def _os_reason(exc: BaseException) -> str | None:
    """The OSError behind an httpx error (its message is only 'All connection attempts...')."""
    seen = exc
    for _ in range(6):
        cause = seen.__cause__ or seen.__context__
        if cause is None:
            return None
        seen = cause
        if isinstance(seen, ConnectionError) and seen.errno:  # asyncio: "Connect call failed"
            import os

            return os.strerror(seen.errno)
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
    return None


def interpret(status: int, body: bytes, url: str) -> Answer:
    """Read a query answer; raise ``QueryFailure`` with the right error kind."""
    data, warnings = read_envelope(status, body, url)
    if not isinstance(data, dict):
        raise QueryFailure("error", f"unexpected answer from {url}: data is not an object")
    return Answer(str(data.get("resultType", "")), data.get("result"), warnings)


def read_envelope(status: int, body: bytes, url: str) -> tuple[Any, list[str]]:
    """``data`` and warnings of a Prometheus API envelope, or ``QueryFailure``."""
    url = shown_url(url)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or "status" not in doc:
        raise QueryFailure(*_http_failure(status, body, url))
    warnings = [one_line(w) for w in doc.get("warnings") or []]
    warnings += [one_line(w) for w in doc.get("infos") or []]
    if doc.get("status") == "success" and status == 200:
        return doc.get("data"), warnings
    etype = str(doc.get("errorType") or "")
    message = one_line(doc.get("error") or f"HTTP {status}")
    if etype in ("bad_data", "execution") or status in (400, 422):
        raise QueryFailure("bad_query", message)
    if etype in ("timeout", "canceled"):
        raise QueryFailure("timeout", f"Prometheus gave up on the query: {message}")
    raise QueryFailure("error", f"Prometheus error ({etype or status}): {message}")


def _http_failure(status: int, body: bytes, url: str) -> tuple[str, str]:
    text = one_line(body.decode("utf-8", errors="replace"), 160) if body else ""
    detail = f": {text}" if text else ""
    if status in (401, 403):
        return "error", (
            f"not authorised by {url} (HTTP {status}): check the token or password{detail}"
        )
    if status == 404:
        return "error", f"no Prometheus API at {url} (HTTP 404): check the URL and path prefix"
    if status in (400, 422):
        return "bad_query", f"HTTP {status}{detail}"
    if status == 200:
        return "error", f"{url} did not answer like a Prometheus API (not JSON)"
    return "error", f"HTTP {status} from {urlsplit(url).netloc}{detail}"


def number(raw: Any) -> float | None:
    """A sample value ('1.5', 'NaN', '+Inf'); None when not a number or NaN."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """httpx wants an SSLContext for a CA file."""
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return verify


def httpx_failure(exc: BaseException, url: str) -> tuple[str, str]:
    """Error kind and one-line message for an httpx exception."""
    import httpx

    url = shown_url(url)
    if isinstance(exc, httpx.ConnectTimeout):
        return "unreachable", f"cannot connect to {url} (timed out)"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"{url} did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        reason = _os_reason(exc) or one_line(exc, 160)
        return "unreachable", f"cannot connect to {url}: {reason}"
    return "error", f"request to {url} failed: {one_line(exc, 160) or type(exc).__name__}"
