"""The API action a request asks for, read from the request itself at the HTTP edge.

Query-protocol services name it in ``Action=`` (query string or form body), JSON services in
the ``X-Amz-Target`` header, and S3's REST API only through method, path and sub-resource.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["action_of_request", "s3_action"]

# Bucket sub-resources whose action is the HTTP verb plus this suffix (GET ?policy ->
# GetBucketPolicy).
_BUCKET_SUBRESOURCES = {
    "accelerate": "BucketAccelerateConfiguration",
    "acl": "BucketAcl",
    "cors": "BucketCors",
    "encryption": "BucketEncryption",
    "lifecycle": "BucketLifecycleConfiguration",
    "location": "BucketLocation",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "policy": "BucketPolicy",
    "publicAccessBlock": "PublicAccessBlock",
    "replication": "BucketReplication",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "website": "BucketWebsite",
}
_OBJECT_SUBRESOURCES = {
    "acl": "ObjectAcl",
    "legal-hold": "ObjectLegalHold",
    "retention": "ObjectRetention",
    "tagging": "ObjectTagging",
}
_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}
_PLAIN_BUCKET = {
    "GET": "ListObjects",
    "HEAD": "HeadBucket",
    "PUT": "CreateBucket",
    "DELETE": "DeleteBucket",
}
_PLAIN_OBJECT = {
    "GET": "GetObject",
    "HEAD": "HeadObject",
    "PUT": "PutObject",
    "DELETE": "DeleteObject",
}


def s3_action(
    method: str, path: str, query: Mapping[str, Any], headers: Mapping[str, Any]
) -> str | None:
    """The S3 action of a path-style REST request, e.g. ``GET /`` -> ``ListBuckets``."""
    method = method.upper()
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return "ListBuckets" if method == "GET" else None
    verb = _VERBS.get(method)
    copying = "x-amz-copy-source" in {str(name).lower() for name in headers}
    if key:
        if "uploadId" in query:
            by_method = {
                "GET": "ListParts",
                "PUT": "UploadPartCopy" if copying else "UploadPart",
                "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload",
            }
            return by_method.get(method)
        if method == "POST":
            if "uploads" in query:
                return "CreateMultipartUpload"
            return "RestoreObject" if "restore" in query else None
        if "attributes" in query and method == "GET":
            return "GetObjectAttributes"
        for name, suffix in _OBJECT_SUBRESOURCES.items():
            if name in query and verb:
                return verb + suffix
        if method == "PUT" and copying:
            return "CopyObject"
        return _PLAIN_OBJECT.get(method)
    if method == "POST":
        return "DeleteObjects" if "delete" in query else None
    if method == "GET":
        if "versions" in query:
            return "ListObjectVersions"
        if "uploads" in query:
            return "ListMultipartUploads"
    for name, suffix in _BUCKET_SUBRESOURCES.items():
        if name in query and verb:
            return verb + suffix
    if method == "GET" and query.get("list-type") == ["2"]:
        return "ListObjectsV2"
    return _PLAIN_BUCKET.get(method)


def _form_body(environ: dict[str, Any]) -> str:
    """A form-encoded body, put back so the services still read it in full."""
    if not str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        return ""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    if length <= 0:
        return ""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body.decode("utf-8", errors="replace")


def action_of_request(environ: dict[str, Any], service: str) -> str | None:
    """The action a WSGI request names, or None when only routing could tell.

    Must run before the request is dispatched: it may read (and restore) the form body.
    """
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        # `DynamoDB_20120810.ListTables`, `TrentService.ListKeys`: the operation comes last.
        return target.rsplit(".", 1)[-1] or None
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if query.get("Action"):
        return query["Action"][0] or None
    if service == "s3":
        headers = {key[5:].replace("_", "-").lower() for key in environ if key.startswith("HTTP_")}
        return s3_action(
            str(environ.get("REQUEST_METHOD", "GET")),
            str(environ.get("PATH_INFO", "/")),
            query,
            dict.fromkeys(headers, ""),
        )
    actions = parse_qs(_form_body(environ)).get("Action")
    return actions[0] if actions else None
