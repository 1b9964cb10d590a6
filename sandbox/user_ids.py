"""IAM user ids shaped as AWS makes them: ``AIDA`` and 17 more upper-case letters and digits.

moto 5.2 gives users 20 random lower-case characters. Resource policies show a deleted user by
this id (:mod:`sandbox.deleted_principals`), and readers tell it from an ARN by its shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.responses import IamResponse
from moto.iam.utils import generate_access_key_id_from_account_id

__all__ = ["wrap_create_user"]


def wrap_create_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_user(self: IamResponse) -> ActionResult:
        result = original(self)
        # The answer is serialized after this returns, so it carries the new id too.
        user = self.backend.get_user(self._get_param("UserName"))
        user.id = generate_access_key_id_from_account_id(
            account_id=self.backend.account_id, prefix="AIDA", total_length=21
        )
        return result

    return create_user
