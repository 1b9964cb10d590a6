"""Who signed a request and for which service and region, from its SigV4 credential scope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

__all__ = ["CredentialScope", "parse_authorization", "scope_of_request"]

# `Credential=AKIA.../20261128/us-east-1/s3/aws4_request`, in a header or a presigned URL.
_HEADER_SCOPE = re.compile(r"Credential=([^/\s,]+)/[^/]*/([^/]*)/([^/]*)/")
_QUERY_SCOPE = re.compile(r"^([^/\s]+)/[^/]*/([^/]*)/([^/]*)/")


@dataclass(frozen=True)
class CredentialScope:
    access_key_id: str
    region: str
    service: str


def _scope(match: re.Match[str] | None) -> CredentialScope | None:
    if match is None:
        return None
    return CredentialScope(
        access_key_id=match.group(1), region=match.group(2), service=match.group(3)
    )


def parse_authorization(header: str | None) -> CredentialScope | None:
    """The scope of a SigV4 ``Authorization`` header, or None for anything else."""
    return _scope(_HEADER_SCOPE.search(header or ""))


def scope_of_request(environ: Mapping[str, Any]) -> CredentialScope | None:
    """The scope from the Authorization header, else from a presigned URL's X-Amz-Credential."""
    scope = parse_authorization(environ.get("HTTP_AUTHORIZATION"))
    if scope is not None:
        return scope
    query = str(environ.get("QUERY_STRING", ""))
    if "X-Amz-Credential" not in query:
        return None
    credential = parse_qs(query).get("X-Amz-Credential", [""])[0]
    return _scope(_QUERY_SCOPE.match(credential))
