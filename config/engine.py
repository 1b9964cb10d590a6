"""The engine's process-wide parts in one place: its settings, the boto3 client factory, the IAM
call-rate bucket, the audit trail, and the clients it assumed in other accounts.

Built on first use from the settings (at the edge: a CLI command, a worker, a test), built
again when the settings are reloaded, and reset in one call (``reset_engine``). Each part is
made when first asked for, so a command that needs only the settings loads neither boto3 nor
Prefect. Whatever must follow the settings when a run starts (the retry options of the tasks)
registers with ``on_build``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from config.settings import Settings, get_settings

if TYPE_CHECKING:
    from audit.trail import AuditTrail
    from tasks.aws import ClientFactory
    from tasks.rate_limit import TokenBucket


@dataclass
class Engine:
    settings: Settings
    # Clients chosen at the edge (the CLI's --profile/--region, a test's restricted identity);
    # None: the standard credential chain.
    chosen_clients: ClientFactory | None = None
    # Clients acting in other accounts, per (engine identity, account, role, session name).
    account_clients: OrderedDict[tuple[int, str, str, str], ClientFactory] = field(
        default_factory=OrderedDict
    )
    # The account of each client factory's own credentials, asked once.
    own_accounts: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def clients(self) -> ClientFactory:
        from tasks.aws import ClientFactory

        return self.chosen_clients or ClientFactory(settings=self.settings)

    @cached_property
    def limiter(self) -> TokenBucket | None:
        """The one IAM call rate of batches (``iam_calls_per_second``); None when unlimited."""
        from tasks.rate_limit import TokenBucket

        rate = self.settings.iam_calls_per_second
        return TokenBucket(rate) if rate > 0 else None

    @cached_property
    def trail(self) -> AuditTrail:
        """The trail at ``audit_log``, its records sealed with the engine's signing key."""
        from audit.checkpoint import CheckpointSigner
        from audit.signing import signing_key_file
        from audit.trail import AuditTrail

        signer = CheckpointSigner(signing_key_file(self.settings))
        return AuditTrail(self.settings.audit_log, signer=signer)


_lock = threading.Lock()
_current: Engine | None = None
_chosen_clients: ClientFactory | None = None
_on_build: list[Callable[[Settings], Any]] = []


def engine() -> Engine:
    """The engine for the current settings; reloaded settings (``get_settings.cache_clear()``)
    build a new one, keeping the clients chosen at the edge and every part whose settings
    are unchanged."""
    global _current
    settings = get_settings()
    current = _current
    if current is not None and current.settings is settings:
        return current
    with _lock:
        if _current is None or _current.settings is not settings:
            built = Engine(settings=settings, chosen_clients=_chosen_clients)
            if _current is not None:
                _keep_what_still_fits(_current, built)
            _current = built
            for hook in _on_build:
                hook(settings)
        return _current


# The settings each part is made from: a part whose settings did not change is kept, so that
# reloading the settings neither drops the clients' connections nor resets the call rate.
_CLIENT_SETTINGS = ("botocore_retry_mode", "botocore_max_attempts")


def _keep_what_still_fits(old: Engine, new: Engine) -> None:
    same_clients = all(
        getattr(old.settings, n) == getattr(new.settings, n) for n in _CLIENT_SETTINGS
    )
    if same_clients and "clients" in old.__dict__ and old.chosen_clients is new.chosen_clients:
        new.__dict__["clients"] = old.__dict__["clients"]
        new.account_clients = old.account_clients
        new.own_accounts = old.own_accounts
    if "limiter" in old.__dict__ and (
        old.settings.iam_calls_per_second == new.settings.iam_calls_per_second
    ):
        new.__dict__["limiter"] = old.__dict__["limiter"]


def on_build(hook: Callable[[Settings], Any]) -> None:
    """Call ``hook`` with the settings whenever the engine is built again."""
    with _lock:
        _on_build.append(hook)


def choose_clients(factory: ClientFactory | None) -> None:
    """Every later client comes from ``factory`` (None: the standard credential chain)."""
    global _chosen_clients
    with _lock:
        _chosen_clients = factory
        if _current is not None:
            _current.chosen_clients = factory
            _current.__dict__.pop("clients", None)
            _current.account_clients.clear()


def reset_engine() -> None:
    """Forget every part, and the settings: the next use builds them from the environment."""
    global _current, _chosen_clients
    with _lock:
        _current = None
        _chosen_clients = None
    get_settings.cache_clear()
