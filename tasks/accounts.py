"""Other accounts: which ones (listed in settings or discovered through Organizations) and
clients for each (STS AssumeRole, refreshed before the credentials expire).

Inside ``in_account(account_id, run_id)`` every ``iam_client()``/``sts_client()``/``s3_client()``
acts in that account; the role session is named after the run, so the account's CloudTrail
names the run that acted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import boto3
import botocore.session
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from pydantic import AfterValidator

from config.engine import engine
from config.settings import get_settings
from tasks.aws import (
    AccountScope,
    ClientFactory,
    account_scope,
    current_account_id,
    get_client_factory,
)
from tasks.errors import InvalidInputError
from tasks.frozen import Frozen
from tasks.runtime import iam_task

# What the engine's own identity needs to reach other accounts; the roles it assumes there need
# the IAM actions of the engine policy instead.
HUB_PERMISSIONS = ("sts:AssumeRole", "organizations:ListAccounts")

ACCOUNT_ID_PATTERN = re.compile(r"[0-9]{12}")
# Assumed-role clients kept per (engine identity, account, role, session name).
MAX_CACHED_ACCOUNTS = 64


def validate_account_id(value: str) -> str:
    if not ACCOUNT_ID_PATTERN.fullmatch(value):
        raise InvalidInputError(f"invalid AWS account id {value!r}: use 12 digits")
    return value


AccountId = Annotated[str, AfterValidator(validate_account_id)]


class Account(Frozen):
    account_id: AccountId
    role_name: str
    name: str | None = None


def account_for(account_id: str) -> Account:
    """The account with the role named for it in settings, else the default role name."""
    validate_account_id(account_id)
    settings = get_settings()
    for listed in settings.accounts:
        if listed.id == account_id:
            return Account(
                account_id=account_id, role_name=listed.role_name or settings.account_role_name
            )
    return Account(account_id=account_id, role_name=settings.account_role_name)


def session_name(run_id: str | None) -> str:
    """RoleSessionName carrying the run id (IAM allows 2-64 of ``[\\w+=,.@-]``)."""
    base = f"offboard-{run_id}" if run_id else f"offboard-local-{os.getpid()}"
    return re.sub(r"[^\w+=,.@-]", "-", base)[:64]


class _AssumedRoleProvider(CredentialProvider):
    METHOD = "offboard-assume-role"
    CANONICAL_NAME = "offboard-assume-role"

    def __init__(self, refresh: Callable[[], dict[str, str]]) -> None:
        super().__init__()
        self._refresh = refresh

    def load(self) -> DeferredRefreshableCredentials:
        # Assumed on first use and again shortly before expiry, by botocore itself.
        return DeferredRefreshableCredentials(refresh_using=self._refresh, method=self.METHOD)


def _assumed_role_factory(
    base: ClientFactory, account: Account, role_session: str
) -> ClientFactory:
    region = base.session.region_name or "us-east-1"
    partition = base.session.get_partition_for_region(region)
    role_arn = f"arn:{partition}:iam::{account.account_id}:role/{account.role_name}"
    duration = get_settings().assume_role_duration_seconds

    def refresh() -> dict[str, str]:
        # Always from the engine's own identity: no chaining through another account's role.
        found = base.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=role_session, DurationSeconds=duration
        )["Credentials"]
        return {
            "access_key": found["AccessKeyId"],
            "secret_key": found["SecretAccessKey"],
            "token": found["SessionToken"],
            "expiry_time": found["Expiration"].isoformat(),
        }

    core = botocore.session.get_session()
    core.register_component(
        "credential_provider", CredentialResolver(providers=[_AssumedRoleProvider(refresh)])
    )
    session = boto3.Session(botocore_session=core, region_name=region)
    return ClientFactory(session=session, config=base.config)


def own_account_id() -> str:
    """The account of the engine's own credentials (asked once per client factory)."""
    state = engine()
    base = state.clients
    with state.lock:
        known = state.own_accounts.get(id(base))
    if known is None:
        known = str(base.client("sts").get_caller_identity()["Account"])
        with state.lock:
            state.own_accounts[id(base)] = known
    return known


def account_factory(account: Account, role_session: str) -> ClientFactory:
    """Clients acting in ``account`` (kept by the engine; credentials assumed on first use)."""
    state = engine()
    base = state.clients
    key = (id(base), account.account_id, account.role_name, role_session)
    with state.lock:
        cached = state.account_clients
        factory = cached.get(key)
        if factory is None:
            factory = _assumed_role_factory(base, account, role_session)
            cached[key] = factory
            while len(cached) > MAX_CACHED_ACCOUNTS:
                cached.popitem(last=False)
        else:
            cached.move_to_end(key)
        return factory


@contextmanager
def in_account(account_id: str | None, run_id: str | None) -> Iterator[str | None]:
    """Act in ``account_id`` through its role. None, the account already in scope, or the
    engine's own account: nothing changes (a batch enters each account once, and its users'
    runs stay in that scope)."""
    if account_id is None or current_account_id() == account_id:
        yield current_account_id()
        return
    validate_account_id(account_id)
    if current_account_id() is None and own_account_id() == account_id:
        yield None
        return
    account = account_for(account_id)
    scope = AccountScope(
        account_id=account_id, factory=account_factory(account, session_name(run_id))
    )
    with account_scope(scope):
        yield account_id


def _discover(role_name: str) -> tuple[Account, ...]:
    # Organizations answers in the management or delegated administrator account: the engine's own.
    org: Any = get_client_factory().client("organizations")
    found: list[Account] = []
    for entry in org.get_paginator("list_accounts").paginate().search("Accounts[]"):
        if entry.get("State", entry.get("Status")) == "ACTIVE":
            found.append(
                Account(account_id=entry["Id"], role_name=role_name, name=entry.get("Name"))
            )
    return tuple(found)


@iam_task(name="target-accounts")
def target_accounts() -> tuple[Account, ...]:
    """The accounts listed in settings, else (with discover_accounts) Organizations' ACTIVE
    accounts; narrowed by account_include and account_exclude. Empty: the engine's own only."""
    settings = get_settings()
    if settings.accounts:
        found = tuple(
            Account(account_id=a.id, role_name=a.role_name or settings.account_role_name)
            for a in settings.accounts
        )
    elif settings.discover_accounts:
        found = _discover(settings.account_role_name)
    else:
        return ()
    include = set(settings.account_include)
    exclude = set(settings.account_exclude)
    return tuple(
        a for a in found if (not include or a.account_id in include) and a.account_id not in exclude
    )
