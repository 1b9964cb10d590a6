"""Who the engine runs as (STS GetCallerIdentity): the audit trail's actor, always protected."""

from __future__ import annotations

from tasks.aws import sts_client
from tasks.frozen import Frozen
from tasks.runtime import iam_task

# GetCallerIdentity needs no permission in AWS: no policy can deny it.
PERMISSIONS: tuple[str, ...] = ()


class CallerIdentity(Frozen):
    account: str
    arn: str
    user_id: str

    @property
    def iam_user_name(self) -> str | None:
        """The IAM user name when the engine runs with a user's keys (not an assumed role)."""
        resource = self.arn.split(":", 5)[-1]
        if not resource.startswith("user/"):
            return None
        return resource.rsplit("/", 1)[-1]


@iam_task(name="caller-identity")
def caller_identity() -> CallerIdentity:
    found = sts_client().get_caller_identity()
    return CallerIdentity(account=found["Account"], arn=found["Arn"], user_id=found["UserId"])
