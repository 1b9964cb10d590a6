"""Signature checks under IAM enforcement that hash the payload the client signed.

moto 5.2 rebuilds a request to check its SigV4 signature from the body or, when the body is
empty, from the parsed parameters, which for a REST request without query string or body are
the request's headers. The rebuilt payload is then not the empty one the client signed, so
every GET or DELETE to a REST service (Lambda's ListFunctions, GetPolicy, RemovePermission)
fails with SignatureDoesNotMatch. Query parameters are part of the signed URL already, so such
a request is checked with an empty payload, as AWS does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSRequest
from moto.iam.access_control import IAMRequestBase

__all__ = ["install_signed_payload"]

BODYLESS = frozenset({"GET", "HEAD", "DELETE"})


def _empty_payload_when_bodyless(
    original: Callable[[IAMRequestBase], AWSRequest],
) -> Callable[[IAMRequestBase], AWSRequest]:
    @functools.wraps(original)
    def create_aws_request(self: IAMRequestBase) -> AWSRequest:
        # A form POST (the query protocol) reaches here with its body parsed into parameters:
        # those re-encoded are the signed body.
        if self._body or self._method.upper() not in BODYLESS:
            return original(self)
        parameters: Any = self._data
        self._data = {}
        try:
            return original(self)
        finally:
            self._data = parameters

    return create_aws_request


def install_signed_payload() -> None:
    IAMRequestBase._create_aws_request = _empty_payload_when_bodyless(  # type: ignore[method-assign,assignment]
        IAMRequestBase._create_aws_request
    )
