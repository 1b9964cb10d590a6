"""The batch at a realistic IAM latency, and how closely the engine holds the default call rate.

Real IAM answers in tens of milliseconds; the sandbox delays every call by ``--latency-ms``
(``python -m sandbox --latency-ms N``), so concurrency buys what it buys against AWS. Measured:

* the floor: raw boto3, one user after another, at that latency;
* the engine at its default concurrency, rate limit off;
* the engine at the default rate limit: IAM calls per second between its first and last IAM
  request (at least 95% of the limit is the goal, never above it), and the busiest 5-second
  window. Every IAM request (botocore's retries too) takes its token just before it is sent; the
  bucket paces 2% under the limit, and a thread woken late is admitted only while its 5-second
  window of sends has room, so no window goes above it (tasks/rate_limit.py).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EngineProbe:
    """Counts the engine's API calls by operation and time-stamps every IAM request it sends."""

    calls: Counter[str] = field(default_factory=Counter)
    iam_sends: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, session: Any) -> None:
        # On the session, before the factory makes its clients, so every engine client counts.
        session.events.register("before-call", self._count)
        # The rate limiter's before-send hook comes first: a request is stamped once let go.
        session.events.register("before-send.iam", self._stamp)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.iam_sends.clear()

    def _count(self, model: Any = None, **_: Any) -> None:
        if model is not None:
            with self._lock:
                self.calls[model.name] += 1

    def _stamp(self, **_: Any) -> None:
        with self._lock:
            self.iam_sends.append(time.monotonic())


@dataclass(frozen=True)
class HeldRate:
    mean: float  # IAM requests per second between the first and the last
    peak: float  # IAM requests per second in the busiest window
    requests: int


PEAK_WINDOW_SECONDS = 5.0


def held_rate(stamps: list[float], window: float = PEAK_WINDOW_SECONDS) -> HeldRate:
    ordered = sorted(stamps)
    if len(ordered) < 2:
        return HeldRate(mean=0.0, peak=0.0, requests=len(ordered))
    span = ordered[-1] - ordered[0]
    if span <= window:
        peak = (len(ordered) - 1) / span
    else:
        most = max(
            bisect.bisect_left(ordered, start + window) - index
            for index, start in enumerate(ordered)
            if start + window <= ordered[-1]
        )
        peak = most / window
    return HeldRate(mean=(len(ordered) - 1) / span, peak=peak, requests=len(ordered))


@dataclass(frozen=True)
class LatencyResult:
    latency_ms: float
    users: int
    floor_wall: float
    engine_wall: float
    concurrency: int
    limited_users: int
    limited_wall: float
    limit: float
    rate: HeldRate


def run_latency_case(
    *,
    latency_ms: float,
    endpoint: str,
    floor_users: list[str],
    engine_users: list[str],
    limited_users: list[str],
    floor_offboard: Callable[[Any, str], None],
    counting_client: Callable[[str], tuple[Any, Counter[str]]],
) -> LatencyResult:
    """Point the engine at the slow sandbox at ``endpoint`` and measure the three runs."""
    from config.settings import get_settings
    from flows.batch_models import BatchSelection, BatchTarget
    from flows.offboard_batch import run_batch
    from tasks.aws import ClientFactory, get_client_factory, set_client_factory

    def selection(names: list[str]) -> BatchSelection:
        return BatchSelection(users=tuple(BatchTarget(user_name=name) for name in names))

    floor_iam, _ = counting_client(endpoint)
    started = time.perf_counter()
    for name in floor_users:
        floor_offboard(floor_iam, name)
    floor_wall = time.perf_counter() - started

    keys = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS")
    saved_env = {key: os.environ.get(key) for key in keys}
    saved_rate = os.environ.get("OFFBOARD_IAM_CALLS_PER_SECOND")
    saved_factory = get_client_factory()
    os.environ.update(dict.fromkeys(keys, endpoint))
    probe = EngineProbe()
    factory = ClientFactory()
    probe.install(factory.session)
    set_client_factory(factory)
    try:
        return _engine_runs(
            probe,
            selection,
            run_batch,
            get_settings,
            engine_users,
            limited_users,
            latency_ms=latency_ms,
            floor_wall=floor_wall,
        )
    finally:
        for key, value in {**saved_env, "OFFBOARD_IAM_CALLS_PER_SECOND": saved_rate}.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        set_client_factory(saved_factory)


def _engine_runs(
    probe: EngineProbe,
    selection: Callable[[list[str]], Any],
    run_batch: Callable[..., Any],
    get_settings: Any,
    engine_users: list[str],
    limited_users: list[str],
    *,
    latency_ms: float,
    floor_wall: float,
) -> LatencyResult:

    # Default concurrency, rate limit off: what the engine's concurrency buys at this latency.
    os.environ["OFFBOARD_IAM_CALLS_PER_SECOND"] = "0"
    get_settings.cache_clear()
    started = time.perf_counter()
    report = run_batch(selection(engine_users), allow_large_batch=len(engine_users))
    engine_wall = time.perf_counter() - started
    failed = [u.report.failure for u in report.users if u.report.outcome != "deleted"]
    assert not failed, failed[:3]

    # Every setting default, the rate limit included.
    os.environ.pop("OFFBOARD_IAM_CALLS_PER_SECOND", None)
    get_settings.cache_clear()
    probe.clear()
    started = time.perf_counter()
    limited = run_batch(selection(limited_users), allow_large_batch=len(limited_users))
    limited_wall = time.perf_counter() - started
    failed = [u.report.failure for u in limited.users if u.report.outcome != "deleted"]
    assert not failed, failed[:3]
    settings = get_settings()
    return LatencyResult(
        latency_ms=latency_ms,
        users=len(engine_users),
        floor_wall=floor_wall,
        engine_wall=engine_wall,
        concurrency=settings.batch_concurrency,
        limited_users=len(limited_users),
        limited_wall=limited_wall,
        limit=settings.iam_calls_per_second,
        rate=held_rate(probe.iam_sends),
    )


def print_latency_case(result: LatencyResult) -> None:
    n = result.users
    print(f"\nat {result.latency_ms:g} ms per IAM call ({n} users per run)")
    print(f"{'run':44}{'wall s':>9}{'users/s':>9}{'vs floor':>10}")
    rows = [
        ("raw boto3, sequential (floor)", result.floor_wall),
        (f"engine batch, {result.concurrency} threads, rate off", result.engine_wall),
    ]
    for label, wall in rows:
        print(f"{label:44}{wall:>9.2f}{n / wall:>9.1f}{wall / result.floor_wall:>10.2f}")
    rate = result.rate
    share = rate.mean / result.limit if result.limit else 0.0
    print(
        f"engine batch at the default {result.limit:g} IAM calls/s ({result.limited_users} users,"
        f" {result.limited_wall:.1f} s): held {rate.mean:.2f} calls/s ({share:.1%} of the limit),"
        f" busiest {PEAK_WINDOW_SECONDS:g} s: {rate.peak:.2f} calls/s; {rate.requests} IAM requests"
    )
