"""IAM authorization in the sandbox, switched on in-process around a block of a test.

By default the sandbox, like moto, lets every request through. Under enforcement moto checks
each request's SigV4 signature against a real IAM access key and evaluates the caller's
policies (inline and attached, its own and its groups'): an explicit Deny wins, otherwise an
Allow is needed. Time conditions are honoured (see :mod:`sandbox.policy_conditions`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin

__all__ = ["enforce_iam_authorization", "iam_authorization_enforced"]

# Enforcement state is process-wide (the server's request threads read it on every request),
# so switching it is serialized.
_LOCK = threading.Lock()


def iam_authorization_enforced() -> bool:
    """Whether the next request the sandbox answers is authorized against IAM policies."""
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


@contextmanager
def enforce_iam_authorization() -> Iterator[None]:
    """Authorize every request against IAM inside the block; restore the previous mode after.

    The same as moto's ``set_initial_no_auth_action_count(0)``, for the in-process sandbox:
    its server threads share this process's setting. It is process-wide, so every client of
    the sandbox is affected while the block runs.

    The dummy ``testing`` key is not an IAM key, so under enforcement it is refused
    (``InvalidClientTokenId``). A test that needs an admin identity creates one *before*
    entering the block::

        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin",
            PolicyName="admin",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        admin = box.client(
            "iam",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        with enforce_iam_authorization():
            admin.list_users()  # authorized as the admin user

    Alternatively, do admin calls with the ``testing`` key outside the block.
    """
    with _LOCK:
        previous_limit = settings.INITIAL_NO_AUTH_ACTION_COUNT
        previous_count = ActionAuthenticatorMixin.request_count
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        with _LOCK:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = previous_limit
            ActionAuthenticatorMixin.request_count = previous_count
