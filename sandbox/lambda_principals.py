"""Lambda function policies with principals shaped as AWS writes them.

moto 5.2 keeps AddPermission's ``Principal`` as given for anything but a service or a root
ARN, so a user's ARN or an account id comes back as a bare string. AWS answers
``{"AWS": "arn:aws:iam::123456789012:user/alice"}`` and, for an account id,
``{"AWS": "arn:aws:iam::123456789012:root"}``, which is what a reader of resource policies
parses.
"""

from __future__ import annotations

import re
from typing import Any

from moto.awslambda.policy import Policy

__all__ = ["install_lambda_principals", "lambda_principal"]

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


def lambda_principal(_policy: Policy, given: Any) -> Any:
    if not isinstance(given, str) or given == "*":
        return given
    if given.endswith(".amazonaws.com"):
        return {"Service": given}
    if _ACCOUNT_ID.match(given):
        return {"AWS": f"arn:aws:iam::{given}:root"}
    return {"AWS": given}


def install_lambda_principals() -> None:
    Policy.principal_formatter = lambda_principal  # type: ignore[method-assign,assignment]
