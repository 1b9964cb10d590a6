"""Identity Center's deletion procedure as data, in the form of tasks.procedure: the
assignments first (no new sessions), then the group memberships, the user itself last."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.identity_center import account_assignments, group_memberships, user
from tasks.identity_center.steps import IdcStepSpec, IdcStepTask


@dataclass(frozen=True)
class IdcStep:
    spec: IdcStepSpec
    task: IdcStepTask

    @property
    def name(self) -> str:
        return self.spec.name


IDENTITY_CENTER_PROCEDURE: tuple[IdcStep, ...] = (
    IdcStep(account_assignments.SPEC, account_assignments.delete_account_assignments),
    IdcStep(group_memberships.SPEC, group_memberships.delete_group_memberships),
    IdcStep(user.SPEC, user.delete_identity_center_user),
)
ATTACHMENT_STEPS: tuple[IdcStep, ...] = IDENTITY_CENTER_PROCEDURE[:-1]
FINAL_STEP: IdcStep = IDENTITY_CENTER_PROCEDURE[-1]
