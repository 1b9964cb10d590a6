"""Where snapshots live: a local directory, or an S3 bucket (``s3://bucket/prefix``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tasks.aws import s3_client

PERMISSIONS = ("s3:PutObject", "s3:GetObject")


def _split_s3(location: str) -> tuple[str, str]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return bucket, key


def folder_name(name: str) -> str:
    """A folder for an IAM name that stays a folder of its own: IAM accepts names such as `.`
    and `..` (and `.hidden`), which a path would read as "here", "up" or hide. A leading dot is
    written `%2E`: IAM names never contain `%`, so no two names share a folder, and every
    other name keeps the folder it always had."""
    if name.startswith("."):
        return f"%2E{name[1:]}"
    return name


def join(store: str, *parts: str) -> str:
    """`store` with `parts` below it; a part that would leave its parent is refused."""
    for part in parts:
        if part in {"", ".", ".."} or "/" in part or "\\" in part:
            raise ValueError(f"unsafe snapshot path segment {part!r}")
    if store.startswith("s3://"):
        return "/".join([store.rstrip("/"), *parts])
    return str(Path(store).joinpath(*parts))


def write_bytes(location: str, data: bytes) -> None:
    if location.startswith("s3://"):
        bucket, key = _split_s3(location)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a reader never sees half a snapshot.
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bytes(location: str) -> bytes:
    if location.startswith("s3://"):
        bucket, key = _split_s3(location)
        body: bytes = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    return Path(location).read_bytes()
