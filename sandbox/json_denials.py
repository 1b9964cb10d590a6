"""Authorization errors in the protocol of the service that refused, as AWS answers them.

Under IAM enforcement moto 5.2 answers every refusal in the query protocol's XML, so a JSON
service's client (KMS, Secrets Manager, ECR, Lambda, SQS) sees an error without a code, only
its HTTP status. AWS answers ``{"__type": "AccessDeniedException", ...}`` there; a reader that
reports a refused resource as not scanned, rather than failing, tells them apart by that code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.core.utils import get_service_model

__all__ = ["install_json_denials"]

JSON_PROTOCOLS = frozenset({"json", "rest-json"})
# The query protocol's names and the JSON services' own, where they differ.
JSON_CODES = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}
# SQS's JSON protocol keeps the query protocol's error names.
KEEPS_QUERY_CODES = frozenset({"sqs"})


def _speaks_json(response: Any) -> bool:
    try:
        model = get_service_model(response.boto3_service_name)
    except Exception:  # a service botocore does not model: leave moto's answer as it is
        return False
    return model.protocol in JSON_PROTOCOLS


def _json_denials(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def authenticate_and_authorize(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            original(self, *args, **kwargs)
        except _RESTError as error:
            if isinstance(error, JsonRESTError) or not _speaks_json(self):
                raise
            name = error.error_type
            if getattr(self, "boto3_service_name", "") not in KEEPS_QUERY_CODES:
                name = JSON_CODES.get(name, name)
            refused = JsonRESTError(name, error.message)
            refused.code = error.code
            raise refused from None

    return authenticate_and_authorize


def install_json_denials() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _json_denials(  # type: ignore[method-assign]
        ActionAuthenticatorMixin._authenticate_and_authorize_action
    )
