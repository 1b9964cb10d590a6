"""The seed's CLI deletion procedure as data: ten steps in order, the user itself last."""

from __future__ import annotations

from dataclasses import dataclass

from tasks import (
    access_keys,
    attached_policies,
    groups,
    inline_policies,
    login_profile,
    mfa_devices,
    service_specific_credentials,
    signing_certificates,
    ssh_public_keys,
    user,
)
from tasks.runtime import StepSpec, StepTask


@dataclass(frozen=True)
class Step:
    spec: StepSpec
    task: StepTask

    @property
    def name(self) -> str:
        return self.spec.name


DELETION_PROCEDURE: tuple[Step, ...] = (
    Step(login_profile.SPEC, login_profile.delete_login_profile),
    Step(access_keys.SPEC, access_keys.delete_access_keys),
    Step(signing_certificates.SPEC, signing_certificates.delete_signing_certificates),
    Step(ssh_public_keys.SPEC, ssh_public_keys.delete_ssh_public_keys),
    Step(
        service_specific_credentials.SPEC,
        service_specific_credentials.delete_service_specific_credentials,
    ),
    Step(mfa_devices.SPEC, mfa_devices.delete_mfa_devices),
    Step(inline_policies.SPEC, inline_policies.delete_inline_policies),
    Step(attached_policies.SPEC, attached_policies.detach_managed_policies),
    Step(groups.SPEC, groups.remove_from_groups),
    Step(user.SPEC, user.delete_user),
)
# Steps 1-9: what hangs off the user; the inventory lists exactly these.
ATTACHMENT_STEPS: tuple[Step, ...] = DELETION_PROCEDURE[:-1]
FINAL_STEP: Step = DELETION_PROCEDURE[-1]
