"""Last-accessed data in the embedded IAM sandbox, driven by requests signed with users' keys.

Real boto3 clients talk HTTP to the sandbox: a user's own key makes S3/STS/IAM calls, and the
admin client reads the results through the calls the engine's access review uses.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.extension import (
    fail_next_last_accessed_jobs,
    inject_fault,
    record_password_use,
    record_service_access,
    reset_last_accessed_jobs,
    set_last_accessed_job_polls,
)
from sandbox.request_actions import s3_action
from sandbox.server import Sandbox

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

ACCOUNT_ID = "123456789012"
# One HTTP request per client call, so every call is exactly one recorded access.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@dataclass(frozen=True)
class KeyedUser:
    name: str
    arn: str
    key_id: str
    secret: str


def make_client(
    box: Sandbox,
    service: str,
    key_id: str = "testing",
    secret: str = "testing",
    region: str = "us-east-1",
) -> Any:
    factory: Callable[..., Any] = boto3.client  # the service name is only known at run time
    return factory(
        service,
        endpoint_url=box.endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=NO_RETRIES,
    )


def as_user(box: Sandbox, user: KeyedUser, service: str, region: str = "us-east-1") -> Any:
    return make_client(box, service, user.key_id, user.secret, region)


@pytest.fixture
def admin(sandbox: Sandbox) -> IAMClient:
    client: IAMClient = make_client(sandbox, "iam")
    return client


@pytest.fixture(autouse=True)
def _default_job_lifecycle() -> Iterator[None]:
    reset_last_accessed_jobs()
    yield
    reset_last_accessed_jobs()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def policy_document(*actions: str) -> str:
    return (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ['
        + ", ".join(f'"{a}"' for a in actions)
        + '], "Resource": "*"}]}'
    )


def new_user(admin: IAMClient, *, key: bool = True) -> KeyedUser:
    name = unique("la")
    arn = admin.create_user(UserName=name)["User"]["Arn"]
    if not key:
        return KeyedUser(name, arn, "", "")
    access_key = admin.create_access_key(UserName=name)["AccessKey"]
    return KeyedUser(name, arn, access_key["AccessKeyId"], access_key["SecretAccessKey"])


@pytest.fixture
def keyed_user(admin: IAMClient) -> KeyedUser:
    return new_user(admin)


def wait_for_job(admin: IAMClient, job_id: str, polls: int = 10) -> Any:
    """Poll until the job leaves IN_PROGRESS, as the engine does; the final answer."""
    for _ in range(polls):
        details = admin.get_service_last_accessed_details(JobId=job_id)
        if details["JobStatus"] != "IN_PROGRESS":
            return details
    raise AssertionError(f"job {job_id} still IN_PROGRESS after {polls} polls")


def report(
    admin: IAMClient, arn: str, granularity: str = "ACTION_LEVEL", max_items: int | None = None
) -> dict[str, Any]:
    """Namespace -> entry of a finished job, following Marker/IsTruncated."""
    job_id = admin.generate_service_last_accessed_details(
        Arn=arn,
        Granularity=granularity,  # type: ignore[arg-type]
    )["JobId"]
    assert wait_for_job(admin, job_id)["JobStatus"] == "COMPLETED"
    entries: dict[str, Any] = {}
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"JobId": job_id}
        if max_items:
            kwargs["MaxItems"] = max_items
        if marker:
            kwargs["Marker"] = marker
        page = admin.get_service_last_accessed_details(**kwargs)
        entries.update({s["ServiceNamespace"]: s for s in page["ServicesLastAccessed"]})
        if not page["IsTruncated"]:
            return entries
        marker = page["Marker"]


def tracked_actions(entry: dict[str, Any]) -> dict[str, Any]:
    return {a["ActionName"]: a for a in entry.get("TrackedActionsLastAccessed", [])}


def is_recent(when: datetime, since: datetime) -> bool:
    return since - timedelta(seconds=1) <= when <= datetime.now(UTC) + timedelta(seconds=1)


# --- activity from requests signed with a user's own key ------------------------------------


def test_s3_and_sts_calls_with_a_users_key_show_in_their_action_level_report(
    sandbox: Sandbox, admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """Each service the key signed for is LastAuthenticated now, with the action and region."""
    admin.put_user_policy(
        UserName=keyed_user.name,
        PolicyName="inline",
        PolicyDocument=policy_document("s3:ListAllMyBuckets", "ec2:DescribeInstances"),
    )
    before = datetime.now(UTC)
    as_user(sandbox, keyed_user, "s3", region="eu-west-1").list_buckets()
    identity = as_user(sandbox, keyed_user, "sts").get_caller_identity()
    assert identity["Arn"] == keyed_user.arn

    entries = report(admin, keyed_user.arn)
    assert set(entries) == {"ec2", "s3", "sts"}
    s3, sts = entries["s3"], entries["sts"]
    assert is_recent(s3["LastAuthenticated"], before)
    assert s3["LastAuthenticatedEntity"] == keyed_user.arn
    assert s3["LastAuthenticatedRegion"] == "eu-west-1"
    assert s3["TotalAuthenticatedEntities"] == 1
    assert sts["LastAuthenticatedRegion"] == "us-east-1"
    assert s3["LastAuthenticated"] <= sts["LastAuthenticated"]
    listed = tracked_actions(s3)["ListBuckets"]
    assert listed["LastAccessedEntity"] == keyed_user.arn
    assert listed["LastAccessedRegion"] == "eu-west-1"
    assert is_recent(listed["LastAccessedTime"], before)
    assert set(tracked_actions(sts)) == {"GetCallerIdentity"}
    # Granted by policy but never used: listed without activity.
    assert "LastAuthenticated" not in entries["ec2"]
    assert entries["ec2"]["TotalAuthenticatedEntities"] == 0
    assert "TrackedActionsLastAccessed" not in entries["ec2"]

    service_level = report(admin, keyed_user.arn, granularity="SERVICE_LEVEL")
    assert service_level["s3"]["LastAuthenticated"] == s3["LastAuthenticated"]
    assert "TrackedActionsLastAccessed" not in service_level["s3"]


def test_get_access_key_last_used_follows_the_latest_signed_request(
    sandbox: Sandbox, admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """GetAccessKeyLastUsed reports the newest request's date, service namespace and region."""
    unused = admin.get_access_key_last_used(AccessKeyId=keyed_user.key_id)
    assert unused["UserName"] == keyed_user.name
    assert unused["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}

    before = datetime.now(UTC)
    as_user(sandbox, keyed_user, "s3", region="eu-west-2").list_buckets()
    used = admin.get_access_key_last_used(AccessKeyId=keyed_user.key_id)["AccessKeyLastUsed"]
    assert (used["ServiceName"], used["Region"]) == ("s3", "eu-west-2")
    assert is_recent(used["LastUsedDate"], before)

    as_user(sandbox, keyed_user, "sts", region="ap-southeast-2").get_caller_identity()
    used = admin.get_access_key_last_used(AccessKeyId=keyed_user.key_id)["AccessKeyLastUsed"]
    assert (used["ServiceName"], used["Region"]) == ("sts", "ap-southeast-2")


def test_activity_counts_only_for_the_keys_owner(
    sandbox: Sandbox, admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """Another user's key, the admin's dummy key and unknown keys leave this user untouched."""
    other = new_user(admin)
    as_user(sandbox, other, "s3").list_buckets()
    as_user(sandbox, other, "sts").get_caller_identity()
    stranger = KeyedUser("stranger", "", "AKIAUNKNOWNSANDBOX01", "secret")
    as_user(sandbox, stranger, "sts").get_caller_identity()
    admin.get_user(UserName=keyed_user.name)

    assert all("LastAuthenticated" not in e for e in report(admin, keyed_user.arn).values())
    mine = admin.get_access_key_last_used(AccessKeyId=keyed_user.key_id)["AccessKeyLastUsed"]
    assert mine["ServiceName"] == "N/A"
    assert set(report(admin, other.arn)) == {"s3", "sts"}


def test_refused_requests_still_count_as_access(
    sandbox: Sandbox, admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """An authenticated attempt is recorded even when the sandbox answers it with an error."""
    iam = as_user(sandbox, keyed_user, "iam")
    with pytest.raises(ClientError):
        iam.get_user(UserName="nobody-here")
    inject_fault("ListAccessKeys", "AccessDenied", status=403)
    with pytest.raises(ClientError):
        iam.list_access_keys(UserName=keyed_user.name)

    actions = tracked_actions(report(admin, keyed_user.arn)["iam"])
    assert set(actions) == {"GetUser", "ListAccessKeys"}


def test_presigned_s3_url_counts_for_the_signing_user(
    sandbox: Sandbox, admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """A SigV4 presigned URL carries the key in its query; using it is the key's activity."""
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.endpoint,
        region_name="us-west-2",
        aws_access_key_id=keyed_user.key_id,
        aws_secret_access_key=keyed_user.secret,
        config=Config(signature_version="s3v4"),
    )
    url = s3.generate_presigned_url("list_buckets")
    assert "X-Amz-Credential=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    s3_entry = report(admin, keyed_user.arn)["s3"]
    assert s3_entry["LastAuthenticatedRegion"] == "us-west-2"
    assert set(tracked_actions(s3_entry)) == {"ListBuckets"}


def test_signing_names_are_reported_as_iam_namespaces(
    sandbox: Sandbox, admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """CloudWatch signs as `monitoring`; reports and key last use name it `cloudwatch`."""
    as_user(sandbox, keyed_user, "cloudwatch").list_metrics()
    used = admin.get_access_key_last_used(AccessKeyId=keyed_user.key_id)["AccessKeyLastUsed"]
    assert used["ServiceName"] == "cloudwatch"
    entry = report(admin, keyed_user.arn)["cloudwatch"]
    assert entry["ServiceName"] == "Amazon CloudWatch"
    assert set(tracked_actions(entry)) == {"ListMetrics"}


def test_recorded_accesses_keep_the_latest_and_page_with_marker(admin: IAMClient) -> None:
    """record_service_access backdates activity; the newest time per service and action wins."""
    user = new_user(admin, key=False)
    admin.put_user_policy(
        UserName=user.name, PolicyName="inline", PolicyDocument=policy_document("s3:GetObject")
    )
    older = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    newer = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
    record_service_access(ACCOUNT_ID, user.arn, "s3", newer, region="eu-west-1", action="GetObject")
    record_service_access(ACCOUNT_ID, user.arn, "s3", older, action="PutObject")
    record_service_access(ACCOUNT_ID, user.arn, "KMS", older)

    entries = report(admin, user.arn, max_items=1)
    assert set(entries) == {"kms", "s3"}
    s3 = entries["s3"]
    assert (s3["LastAuthenticated"], s3["LastAuthenticatedRegion"]) == (newer, "eu-west-1")
    assert s3["LastAuthenticatedEntity"] == user.arn
    actions = tracked_actions(s3)
    assert actions["GetObject"]["LastAccessedTime"] == newer
    assert actions["PutObject"]["LastAccessedTime"] == older
    assert entries["kms"]["LastAuthenticated"] == older


# --- job lifecycle --------------------------------------------------------------------------


def test_job_answers_in_progress_for_the_configured_polls(
    admin: IAMClient, keyed_user: KeyedUser
) -> None:
    """By default the first poll is IN_PROGRESS; set_last_accessed_job_polls changes that."""
    admin.put_user_policy(
        UserName=keyed_user.name, PolicyName="p", PolicyDocument=policy_document("s3:GetObject")
    )
    for polls in (1, 3, 0):
        if polls != 1:
            set_last_accessed_job_polls(polls)
        job_id = admin.generate_service_last_accessed_details(Arn=keyed_user.arn)["JobId"]
        for _ in range(polls):
            pending = admin.get_service_last_accessed_details(JobId=job_id)
            assert pending["JobStatus"] == "IN_PROGRESS"
            assert pending["ServicesLastAccessed"] == []
            assert pending["JobType"] == "SERVICE_LEVEL"
            assert "JobCompletionDate" not in pending
        done = admin.get_service_last_accessed_details(JobId=job_id)
        assert done["JobStatus"] == "COMPLETED"
        assert done["JobCompletionDate"] >= done["JobCreationDate"]
        assert [s["ServiceNamespace"] for s in done["ServicesLastAccessed"]] == ["s3"]
        assert admin.get_service_last_accessed_details(JobId=job_id)["JobStatus"] == "COMPLETED"


def test_failed_jobs_answer_failed_with_an_error(admin: IAMClient, keyed_user: KeyedUser) -> None:
    """The next `count` jobs end FAILED with Error {Code, Message}; later jobs complete."""
    set_last_accessed_job_polls(0)
    fail_next_last_accessed_jobs(2, code="ServiceFailure", message="report unavailable")
    failed = [
        admin.get_service_last_accessed_details(
            JobId=admin.generate_service_last_accessed_details(Arn=keyed_user.arn)["JobId"]
        )
        for _ in range(2)
    ]
    for details in failed:
        assert details["JobStatus"] == "FAILED"
        assert details["Error"] == {"Code": "ServiceFailure", "Message": "report unavailable"}
        assert details["ServicesLastAccessed"] == []
    assert report(admin, keyed_user.arn) == {}


def test_failed_job_is_in_progress_first(admin: IAMClient, keyed_user: KeyedUser) -> None:
    """A failing job goes through the same IN_PROGRESS polls before answering FAILED."""
    fail_next_last_accessed_jobs(1)
    job_id = admin.generate_service_last_accessed_details(Arn=keyed_user.arn)["JobId"]
    assert admin.get_service_last_accessed_details(JobId=job_id)["JobStatus"] == "IN_PROGRESS"
    details = wait_for_job(admin, job_id)
    assert details["JobStatus"] == "FAILED"
    assert details["Error"]["Code"] and details["Error"]["Message"]


def test_lifecycle_knobs_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        set_last_accessed_job_polls(-1)
    with pytest.raises(ValueError):
        fail_next_last_accessed_jobs(0)


def test_marker_pages_through_many_services(admin: IAMClient, keyed_user: KeyedUser) -> None:
    """MaxItems/Marker page a long report in order, IsTruncated until the last page."""
    namespaces = sorted(f"svc{i:02d}" for i in range(23))
    admin.put_user_policy(
        UserName=keyed_user.name,
        PolicyName="many",
        PolicyDocument=policy_document(*(f"{ns}:Get" for ns in namespaces)),
    )
    job_id = admin.generate_service_last_accessed_details(Arn=keyed_user.arn)["JobId"]
    wait_for_job(admin, job_id)
    seen: list[str] = []
    truncated: list[bool] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"JobId": job_id, "MaxItems": 10}
        if marker:
            kwargs["Marker"] = marker
        page = admin.get_service_last_accessed_details(**kwargs)
        seen += [s["ServiceNamespace"] for s in page["ServicesLastAccessed"]]
        truncated.append(page["IsTruncated"])
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        marker = page["Marker"]
    assert seen == namespaces
    assert truncated == [True, True, False]


def test_last_accessed_errors(admin: IAMClient) -> None:
    """An unknown entity ARN or job id is NoSuchEntity; a bad granularity is InvalidInput."""
    with pytest.raises(ClientError) as exc:
        admin.generate_service_last_accessed_details(
            Arn=f"arn:aws:iam::{ACCOUNT_ID}:user/nobody-here"
        )
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        admin.get_service_last_accessed_details(JobId=str(uuid.uuid4()))
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        admin.generate_service_last_accessed_details(
            Arn=f"arn:aws:iam::{ACCOUNT_ID}:user/x",
            Granularity="EVERYTHING",  # type: ignore[arg-type]
        )
    assert exc.value.response["Error"]["Code"] == "InvalidInput"


def test_report_lists_services_of_inline_group_and_attached_policies(admin: IAMClient) -> None:
    """Without activity, one entry per namespace the user's own and group policies allow."""
    user = new_user(admin, key=False)
    admin.put_user_policy(
        UserName=user.name, PolicyName="inline", PolicyDocument=policy_document("s3:GetObject", "*")
    )
    arn = admin.create_policy(
        PolicyName=unique("managed"), PolicyDocument=policy_document("ec2:DescribeInstances")
    )["Policy"]["Arn"]
    admin.attach_user_policy(UserName=user.name, PolicyArn=arn)
    group = unique("group")
    admin.create_group(GroupName=group)
    admin.put_group_policy(
        GroupName=group, PolicyName="g", PolicyDocument=policy_document("sqs:SendMessage")
    )
    admin.add_user_to_group(GroupName=group, UserName=user.name)

    entries = report(admin, user.arn, granularity="SERVICE_LEVEL")
    assert list(entries) == ["ec2", "s3", "sqs"]
    assert entries["s3"]["ServiceName"] == "Amazon S3"
    assert all(e["TotalAuthenticatedEntities"] == 0 for e in entries.values())
    assert all("LastAuthenticated" not in e for e in entries.values())


# --- password last used ---------------------------------------------------------------------


def test_password_last_used_round_trip(admin: IAMClient) -> None:
    """record_password_use sets GetUser's PasswordLastUsed; None clears it again."""
    user = new_user(admin, key=False)
    assert "PasswordLastUsed" not in admin.get_user(UserName=user.name)["User"]
    when = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    record_password_use(user.name, when)
    assert admin.get_user(UserName=user.name)["User"]["PasswordLastUsed"] == when
    record_password_use(user.name, None)
    assert "PasswordLastUsed" not in admin.get_user(UserName=user.name)["User"]
    with pytest.raises(LookupError):
        record_password_use("nobody-here", when)


# --- S3 action names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("GET", "/", {}, {}, "ListBuckets"),
        ("GET", "/bucket", {}, {}, "ListObjects"),
        ("GET", "/bucket/", {"list-type": ["2"]}, {}, "ListObjectsV2"),
        ("PUT", "/bucket", {}, {}, "CreateBucket"),
        ("GET", "/bucket", {"policy": [""]}, {}, "GetBucketPolicy"),
        ("DELETE", "/bucket", {"tagging": [""]}, {}, "DeleteBucketTagging"),
        ("POST", "/bucket", {"delete": [""]}, {}, "DeleteObjects"),
        ("GET", "/bucket/a/b.txt", {}, {}, "GetObject"),
        ("PUT", "/bucket/key", {}, {"x-amz-copy-source": "x"}, "CopyObject"),
        ("PUT", "/bucket/key", {"tagging": [""]}, {}, "PutObjectTagging"),
        ("POST", "/bucket/key", {"uploads": [""]}, {}, "CreateMultipartUpload"),
        ("PUT", "/bucket/key", {"uploadId": ["u"], "partNumber": ["1"]}, {}, "UploadPart"),
    ],
)
def test_s3_action_names_rest_requests(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], expected: str
) -> None:
    assert s3_action(method, path, query, headers) == expected
