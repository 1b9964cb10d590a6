"""UpdateUser in the embedded IAM sandbox: a new name or path keeps everything the user has.

Real boto3 clients talk HTTP to the sandbox; users carry every attachment kind
(:func:`sandbox.fixtures.create_loaded_user`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.extension import (
    record_service_access,
    reset_last_accessed_jobs,
    set_last_accessed_job_polls,
)
from sandbox.fixtures import create_loaded_user
from sandbox.server import Sandbox

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

ACCOUNT_ID = "123456789012"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def make_client(
    box: Sandbox, service: str, key_id: str = "testing", secret: str = "testing"
) -> Any:
    factory: Callable[..., Any] = boto3.client  # the service name is only known at run time
    return factory(
        service,
        endpoint_url=box.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=NO_RETRIES,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_code(call: Callable[[], object]) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


@dataclass(frozen=True)
class Holdings:
    """What a user holds, by id, and every owner name the listings report."""

    user_id: str
    tags: list[dict[str, str]]
    boundary_arn: str
    groups: list[str]
    inline_policies: list[str]
    managed_policies: list[str]
    access_keys: list[str]
    service_credentials: list[str]
    signing_certificates: list[str]
    ssh_keys: list[str]
    mfa_devices: list[str]
    owner_names: set[str]


def holdings(iam: IAMClient, name: str) -> Holdings:
    user = iam.get_user(UserName=name)["User"]
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    creds = iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]
    certs = iam.list_signing_certificates(UserName=name)["Certificates"]
    ssh_keys = iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"]
    mfa = iam.list_mfa_devices(UserName=name)["MFADevices"]
    owners = {user["UserName"], iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"]}
    for listing in (keys, creds, certs, ssh_keys, mfa):
        owners |= {str(item["UserName"]) for item in listing}
    owners |= {
        str(iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["UserName"])
        for key in keys
    }
    return Holdings(
        user_id=user["UserId"],
        tags=[
            {"Key": t["Key"], "Value": t["Value"]}
            for t in iam.list_user_tags(UserName=name)["Tags"]
        ],
        boundary_arn=user["PermissionsBoundary"]["PermissionsBoundaryArn"],
        groups=sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]),
        inline_policies=sorted(iam.list_user_policies(UserName=name)["PolicyNames"]),
        managed_policies=sorted(
            p["PolicyArn"]
            for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        ),
        access_keys=sorted(k["AccessKeyId"] for k in keys),
        service_credentials=sorted(c["ServiceSpecificCredentialId"] for c in creds),
        signing_certificates=sorted(c["CertificateId"] for c in certs),
        ssh_keys=sorted(k["SSHPublicKeyId"] for k in ssh_keys),
        mfa_devices=sorted(d["SerialNumber"] for d in mfa),
        owner_names=owners,
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as box:
        yield box


@pytest.fixture(scope="module")
def iam(sandbox: Sandbox) -> IAMClient:
    client: IAMClient = make_client(sandbox, "iam")
    return client


@pytest.mark.parametrize(
    ("rename", "new_path"),
    [
        pytest.param(True, None, id="new-name"),
        pytest.param(False, "/moved/", id="new-path"),
        pytest.param(True, "/moved/", id="new-name-and-path"),
    ],
)
def test_update_user_keeps_everything_the_user_holds(
    iam: IAMClient, rename: bool, new_path: str | None
) -> None:
    old_name = unique("loaded")
    loaded = create_loaded_user(iam, old_name, path="/staff/")
    before = holdings(iam, old_name)
    assert before.tags and before.owner_names == {old_name}
    new_name = unique("renamed") if rename else old_name
    changes: dict[str, str] = {}
    if rename:
        changes["NewUserName"] = new_name
    if new_path:
        changes["NewPath"] = new_path

    iam.update_user(UserName=old_name, **changes)

    after = holdings(iam, new_name)
    assert after == Holdings(**{**before.__dict__, "owner_names": {new_name}})
    user = iam.get_user(UserName=new_name)["User"]
    path = new_path or loaded.path
    assert user["Path"] == path
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user{path}{new_name}"
    assert user["Tags"] == before.tags
    listed = iam.list_users(PathPrefix=path)["Users"]
    assert [u["UserId"] for u in listed if u["UserName"] == new_name] == [before.user_id]
    if rename:
        assert error_code(lambda: iam.get_user(UserName=old_name)) == "NoSuchEntity"
        assert error_code(lambda: iam.list_user_tags(UserName=old_name)) == "NoSuchEntity"


def test_renaming_onto_an_existing_user_is_entity_already_exists(iam: IAMClient) -> None:
    first, second = unique("first"), unique("second")
    iam.create_user(UserName=first, Tags=[{"Key": "Who", "Value": "first"}])
    iam.create_user(UserName=second, Tags=[{"Key": "Who", "Value": "second"}])
    ids = {name: iam.get_user(UserName=name)["User"]["UserId"] for name in (first, second)}

    code = error_code(lambda: iam.update_user(UserName=first, NewUserName=second))

    assert code == "EntityAlreadyExists"
    for name in (first, second):
        user = iam.get_user(UserName=name)["User"]
        assert user["UserId"] == ids[name]
        assert user["Tags"] == [{"Key": "Who", "Value": name.split("-")[0]}]


def test_update_user_of_a_missing_user_is_no_such_entity(iam: IAMClient) -> None:
    code = error_code(lambda: iam.update_user(UserName=unique("nobody"), NewUserName="x"))
    assert code == "NoSuchEntity"


def test_recorded_activity_follows_the_renamed_user(sandbox: Sandbox, iam: IAMClient) -> None:
    """Activity recorded under the old ARN reports under the new one, and the user's key still
    counts as theirs after the rename."""
    old_name, new_name = unique("active"), unique("renamed")
    old_arn = iam.create_user(UserName=old_name)["User"]["Arn"]
    iam.put_user_policy(
        UserName=old_name,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=old_name)["AccessKey"]
    record_service_access(ACCOUNT_ID, old_arn, "s3", action="GetObject")

    iam.update_user(UserName=old_name, NewUserName=new_name)
    new_arn = iam.get_user(UserName=new_name)["User"]["Arn"]
    sts = make_client(sandbox, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == new_arn

    set_last_accessed_job_polls(0)
    try:
        job_id = iam.generate_service_last_accessed_details(Arn=new_arn)["JobId"]
        report = iam.get_service_last_accessed_details(JobId=job_id)
    finally:
        reset_last_accessed_jobs()
    entities = {
        s["ServiceNamespace"]: s.get("LastAuthenticatedEntity")
        for s in report["ServicesLastAccessed"]
    }
    assert entities == {"s3": new_arn, "sts": new_arn}
