"""Under IAM enforcement moto checks each request's SigV4 signature; for a request without a body
(Lambda's GET /2015-03-31/functions, say) it signs the parsed parameters instead of the empty
body some services hand it, so a correctly signed request fails with SignatureDoesNotMatch.
AWS hashes the payload as sent: an empty body is signed as empty."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSRequest
from moto.iam.access_control import IAMRequestBase

_BODILESS = frozenset({"GET", "HEAD", "DELETE"})


def _wrap(
    original: Callable[[IAMRequestBase], AWSRequest],
) -> Callable[[IAMRequestBase], AWSRequest]:
    @functools.wraps(original)
    def create_aws_request(self: IAMRequestBase) -> AWSRequest:
        request = original(self)
        body: Any = getattr(self, "_body", None)
        if str(getattr(self, "_method", "")).upper() in _BODILESS and not body:
            request.data = b""
        return request

    return create_aws_request


def install_bodiless_signature() -> None:
    IAMRequestBase._create_aws_request = _wrap(IAMRequestBase._create_aws_request)  # type: ignore[method-assign,assignment]
