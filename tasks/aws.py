"""The one place boto3 clients are made: standard credential chain, botocore retries underneath.

Endpoints come from botocore itself (``AWS_ENDPOINT_URL_IAM`` / ``AWS_ENDPOINT_URL``), so the
engine talks to the embedded sandbox or to AWS with the same code. Inside ``account_scope`` the
clients act in another account (see tasks.accounts); inside a batch, every IAM call waits its
turn under one call rate (tasks.rate_limit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from config.engine import choose_clients, engine
from config.settings import Settings, get_settings
from tasks.rate_limit import throttle_iam_call
from tasks.retry_quota import quota_per_run
from tasks.side_by_side import USER_READS_AT_ONCE

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sts import STSClient


@dataclass
class CallCounter:
    """Counts API calls made by the current step (one per operation, not per HTTP attempt)."""

    count: int = 0
    operations: list[str] = field(default_factory=list)
    # A step's independent reads run side by side (tasks.side_by_side) and count here together.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


_current_counter: ContextVar[CallCounter | None] = ContextVar("offboard_call_counter", default=None)


@contextmanager
def count_calls() -> Iterator[CallCounter]:
    counter = CallCounter()
    token = _current_counter.set(counter)
    try:
        yield counter
    finally:
        _current_counter.reset(token)


def _count_call(model: Any = None, **_: Any) -> None:
    counter = _current_counter.get()
    if counter is not None and model is not None:
        with counter.lock:
            counter.count += 1
            counter.operations.append(model.name)


# IAM action prefixes that differ from the botocore service name (sso-admin's actions are
# ``sso:...``); every other service's prefix is its name.
ACTION_PREFIXES = {"sso-admin": "sso"}


def _name_action_prefix(service: str) -> Any:
    """Stamp the service's IAM action prefix on its errors, so a report names the action."""
    prefix = ACTION_PREFIXES.get(service, service)

    def stamp(parsed: dict[str, Any] | None = None, **_: Any) -> None:
        error = (parsed or {}).get("Error")
        if isinstance(error, dict):
            error["ActionPrefix"] = prefix

    return stamp


class _PoolFullIsQuiet(logging.Filter):
    # When more calls are in flight than the pool keeps, urllib3 closes the extra connections
    # after use and warns; nothing is lost and nothing is for the operator to do.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Connection pool is full")


logging.getLogger("urllib3.connectionpool").addFilter(_PoolFullIsQuiet())


class ClientFactory:
    """Builds and caches clients; clients are thread-safe, so one per service serves every task
    (and every user of a batch: each user's run keeps a retry quota of its own, see
    tasks.retry_quota)."""

    def __init__(
        self,
        session: boto3.Session | None = None,
        config: Config | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or get_settings()
        self.session = session or boto3.Session()
        self.config = config or Config(
            retries={
                "mode": settings.botocore_retry_mode,
                "max_attempts": settings.botocore_max_attempts,
            },
            connect_timeout=5,
            read_timeout=30,
            # botocore keeps 10: a batch's users share the clients, and each user's
            # independent reads wait side by side.
            max_pool_connections=settings.batch_concurrency * USER_READS_AT_ONCE,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # IAM is a global service; botocore routes it to us-east-1 for the aws partition.
                region = self.session.region_name or "us-east-1"
                # The stubs type clients per literal service name; this factory serves any.
                session: Any = self.session
                made = session.client(service, region_name=region, config=self.config)
                quota_per_run(made)
                made.meta.events.register("before-call", _count_call)
                if service == "iam":
                    # First, so that whatever else watches requests go out sees them after
                    # their turn.
                    made.meta.events.register_first("before-send.iam", throttle_iam_call)
                if service != "iam":
                    made.meta.events.register("after-call", _name_action_prefix(service))
                self._clients[service] = made
            return self._clients[service]

    def regional(self, service: str, region: str) -> Any:
        """A client for ``service`` in ``region`` (resource policies live per region), cached as
        ``client`` caches the default region's."""
        key = f"{service}@{region}"
        with self._lock:
            if key not in self._clients:
                session: Any = self.session
                made = session.client(service, region_name=region, config=self.config)
                quota_per_run(made)
                made.meta.events.register("before-call", _count_call)
                made.meta.events.register("after-call", _name_action_prefix(service))
                self._clients[key] = made
            return self._clients[key]


def get_client_factory() -> ClientFactory:
    """The engine's clients (see config.engine)."""
    return engine().clients


def set_client_factory(factory: ClientFactory | None) -> None:
    """Make every later client from ``factory`` (None: rebuild from the environment)."""
    choose_clients(factory)


def use_aws_session(profile: str | None = None, region: str | None = None) -> ClientFactory:
    """Make every later client from this named profile and/or region (the CLI's --profile and
    --region), as AWS_PROFILE / AWS_REGION would. An unknown profile raises ProfileNotFound
    here, before any call."""
    factory = ClientFactory(session=boto3.Session(profile_name=profile, region_name=region))
    set_client_factory(factory)
    return factory


@dataclass(frozen=True)
class AccountScope:
    """The clients to use: another account's, or (account_id None) ones of the engine's own."""

    account_id: str | None
    factory: ClientFactory


_current_scope: ContextVar[AccountScope | None] = ContextVar("offboard_account", default=None)


@contextmanager
def account_scope(scope: AccountScope | None) -> Iterator[AccountScope | None]:
    """Within, iam_client()/sts_client()/s3_client() act in ``scope``'s account (None: as
    before). Threads started inside see it only if they copy the context, as Prefect's task
    runners do."""
    if scope is None:
        yield _current_scope.get()
        return
    token = _current_scope.set(scope)
    try:
        yield scope
    finally:
        _current_scope.reset(token)


def current_account_id() -> str | None:
    """The account of the enclosing account_scope; None for the engine's own credentials."""
    scope = _current_scope.get()
    return scope.account_id if scope else None


def current_factory() -> ClientFactory:
    scope = _current_scope.get()
    return scope.factory if scope else get_client_factory()


def iam_client() -> IAMClient:
    client: IAMClient = current_factory().client("iam")
    return client


def sts_client() -> STSClient:
    client: STSClient = current_factory().client("sts")
    return client


def sso_admin_client() -> Any:
    """IAM Identity Center's administration API (instances, permission sets, assignments)."""
    return current_factory().client("sso-admin")


def identitystore_client() -> Any:
    """IAM Identity Center's identity store (users, groups, memberships)."""
    return current_factory().client("identitystore")


def s3_client() -> Any:
    """For snapshots kept in S3."""
    return current_factory().client("s3")
