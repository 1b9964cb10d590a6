"""The KMS guard: a user who is the only principal allowed to change a key's policy, on a key
whose policy does not also trust the account root, is not deleted: the key would be orphaned
(only AWS Support can make it manageable again). A held run changes nothing.

It reads the run's reference scan of KMS key policies (``extra["references"]``). A scan that
failed, or key policies it could not read, hold the run too: the guard cannot tell."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from flows.guards.base import Guard, GuardInput, Hold
from flows.report import Outcome, StepFailure
from tasks.references.found import NotScanned, Reference
from tasks.references.scan import ReferenceScan

# The GuardInput.extra key the run puts its reference scan (or the scan's failure) under.
REFERENCES = "references"
NAME = "kms-sole-admin"


def _administers(reference: Reference) -> bool:
    """An Allow statement whose actions include kms:PutKeyPolicy (kms:*, *, kms:Put* too)."""
    return reference.effect == "Allow" and any(
        fnmatch.fnmatchcase("kms:putkeypolicy", action.lower()) for action in reference.actions
    )


def _is_root(principal: str, account_id: str) -> bool:
    # "*" lets anyone in; the root lets the account's IAM policies grant the key back.
    return principal in ("*", account_id, f"arn:aws:iam::{account_id}:root")


def sole_admin_keys(
    found: Iterable[Reference], account_id: str, principals: Iterable[str]
) -> list[str]:
    """The KMS keys (ARNs) whose only administrators are ``principals`` (the user's ARN and
    unique id), the account root not among them: a root allowed only to decrypt cannot be
    granted the key's administration back by IAM policies."""
    user = set(principals)
    administrators: dict[str, set[str]] = {}
    for reference in found:
        if reference.service == "kms" and _administers(reference):
            administrators.setdefault(reference.resource_arn, set()).add(reference.principal)
    return sorted(
        key
        for key, admins in administrators.items()
        if admins <= user and not any(_is_root(a, account_id) for a in admins)
    )


def _not_scanned(missed: Iterable[NotScanned]) -> list[str]:
    return [
        f"{n.reason} on {n.action or 'kms'} for {n.resource_arn} in {n.region}"
        for n in missed
        if n.service == "kms"
    ]


def kms_hold(found: GuardInput) -> Hold | None:
    scan = found.extra.get(REFERENCES)
    if isinstance(scan, StepFailure):
        where = f"{scan.error_code} on {scan.action}: " if scan.error_code else ""
        return Hold(
            Outcome.held_kms_sole_admin,
            "KmsScanFailed",
            f"KMS key policies could not be scanned ({where}{scan.message}): deleting the user "
            "could orphan a key it alone administers",
        )
    if not isinstance(scan, ReferenceScan):
        return None  # no scan asked for (the guard is not in GUARDS)
    user = found.user
    orphaned = sole_admin_keys(scan.found, user.account_id, (user.arn, user.user_id))
    if orphaned:
        return Hold(
            Outcome.held_kms_sole_admin,
            "KmsSoleAdministrator",
            f"{user.user_name} is the only administrator of KMS key {', '.join(orphaned)} "
            f"and its policy does not trust arn:aws:iam::{user.account_id}:root: deleting the "
            "user would orphan the key (add another administrator first)",
        )
    missed = _not_scanned(scan.not_scanned)
    if missed:
        return Hold(
            Outcome.held_kms_sole_admin,
            "KmsScanIncomplete",
            f"KMS key policies not read: {'; '.join(missed)}; the user could be the only "
            "administrator of one of them",
        )
    return None


GUARD = Guard(
    name=NAME,
    check=kms_hold,
    describe="the KMS sole-administrator guard",
    # Nothing to undo later: the operator adds an administrator, then runs again.
    deactivates=False,
    scans=("kms",),
)
