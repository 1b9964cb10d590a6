"""The embedded IAM sandbox, exercised over real HTTP with boto3 clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.extension import (
    clear_faults,
    fail_next_last_accessed_jobs,
    inject_fault,
    install,
    set_last_accessed_job_polls,
)
from sandbox.fixtures import (
    DEMO_USERS,
    certificate_pem,
    create_loaded_user,
    seed_demo_users,
    ssh_public_key_body,
)
from sandbox.server import Sandbox, run_forever

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sts import STSClient

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_ID = "123456789012"
# One HTTP request per client call, so injected faults and the request log line up exactly.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def make_client(box: Sandbox, service: str) -> Any:
    factory: Callable[..., Any] = boto3.client  # the service name is only known at run time
    return factory(
        service,
        endpoint_url=box.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as box:
        yield box


@pytest.fixture(scope="module")
def iam(sandbox: Sandbox) -> IAMClient:
    client: IAMClient = make_client(sandbox, "iam")
    return client


@pytest.fixture(scope="module")
def sts(sandbox: Sandbox) -> STSClient:
    client: STSClient = make_client(sandbox, "sts")
    return client


@pytest.fixture(autouse=True)
def _no_leftover_faults() -> Iterator[None]:
    yield
    clear_faults()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def user(iam: IAMClient) -> str:
    name = unique("user")
    iam.create_user(UserName=name)
    return name


def policy_document(*actions: str) -> str:
    return (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ['
        + ", ".join(f'"{a}"' for a in actions)
        + '], "Resource": "*"}]}'
    )


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- server basics --------------------------------------------------------------------------


def test_get_caller_identity_answers_for_the_default_account(sts: STSClient) -> None:
    """STS GetCallerIdentity works against the sandbox endpoint."""
    identity = sts.get_caller_identity()
    assert identity["Account"] == ACCOUNT_ID


def test_env_points_every_aws_client_at_the_endpoint(sandbox: Sandbox) -> None:
    """env() names the endpoint for IAM, STS and the default, with dummy credentials."""
    env = sandbox.env()
    assert sandbox.endpoint.startswith("http://127.0.0.1:")
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS"):
        assert env[key] == sandbox.endpoint
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_starting_on_a_busy_port_raises_instead_of_hanging(sandbox: Sandbox) -> None:
    """A second sandbox on an occupied port fails fast with RuntimeError."""
    with pytest.raises(RuntimeError, match="could not listen"):
        Sandbox(port=sandbox.port).start()


# --- service-specific credentials -----------------------------------------------------------


def test_create_service_specific_credential_returns_password_once(
    iam: IAMClient, user: str
) -> None:
    """Create answers a password, an ACCA id and `<user>-at-<account>`; List omits the password."""
    cred = iam.create_service_specific_credential(
        UserName=user, ServiceName="codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]
    assert cred["ServicePassword"]
    assert cred["ServiceUserName"] == f"{user}-at-{ACCOUNT_ID}"
    assert cred["Status"] == "Active"
    assert cred["UserName"] == user
    cred_id = cred["ServiceSpecificCredentialId"]
    assert cred_id.startswith("ACCA") and len(cred_id) == 21 and cred_id.isupper()
    assert isinstance(cred["CreateDate"], datetime)

    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in listed] == [cred_id]
    assert "ServicePassword" not in listed[0]


def test_third_credential_for_one_service_is_limit_exceeded(iam: IAMClient, user: str) -> None:
    """AWS allows two credentials per service per user; the third is LimitExceeded."""
    for _ in range(2):
        iam.create_service_specific_credential(
            UserName=user, ServiceName="codecommit.amazonaws.com"
        )
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(
            UserName=user, ServiceName="codecommit.amazonaws.com"
        )
    assert error_of(exc) == ("LimitExceeded", 409)
    # The quota is per service.
    iam.create_service_specific_credential(UserName=user, ServiceName="cassandra.amazonaws.com")


def test_service_specific_credentials_for_unknown_user_are_no_such_entity(iam: IAMClient) -> None:
    """Create and List for a user that does not exist answer NoSuchEntity (404)."""
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(
            UserName="nobody-here", ServiceName="codecommit.amazonaws.com"
        )
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.list_service_specific_credentials(UserName="nobody-here")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_unsupported_service_is_rejected(iam: IAMClient, user: str) -> None:
    """Only services AWS issues such credentials for are accepted."""
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName=user, ServiceName="s3.amazonaws.com")
    assert error_of(exc) == ("NotSupportedService", 404)


def test_list_filters_by_service_and_pages_with_marker(iam: IAMClient, user: str) -> None:
    """ServiceName filters the listing; MaxItems/Marker page through it."""
    ids = [
        iam.create_service_specific_credential(UserName=user, ServiceName=service)[
            "ServiceSpecificCredential"
        ]["ServiceSpecificCredentialId"]
        for service in ("codecommit.amazonaws.com", "cassandra.amazonaws.com") * 2
    ]
    cassandra = iam.list_service_specific_credentials(
        UserName=user, ServiceName="cassandra.amazonaws.com"
    )["ServiceSpecificCredentials"]
    assert {c["ServiceSpecificCredentialId"] for c in cassandra} == {ids[1], ids[3]}

    seen: list[str] = []
    marker: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"UserName": user, "MaxItems": 3}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_service_specific_credentials(**kwargs)
        pages += 1
        seen += [c["ServiceSpecificCredentialId"] for c in page["ServiceSpecificCredentials"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        marker = page["Marker"]
    assert pages == 2
    assert seen == ids


def test_update_reset_and_delete_round_trip(iam: IAMClient, user: str) -> None:
    """Update flips Status, Reset issues a new password, Delete removes the credential."""
    cred = iam.create_service_specific_credential(
        UserName=user, ServiceName="cassandra.amazonaws.com"
    )["ServiceSpecificCredential"]
    cred_id = cred["ServiceSpecificCredentialId"]

    iam.update_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=cred_id, Status="Inactive"
    )
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert listed[0]["Status"] == "Inactive"

    reset = iam.reset_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=cred_id
    )["ServiceSpecificCredential"]
    assert reset["ServiceSpecificCredentialId"] == cred_id
    assert reset["ServicePassword"] and reset["ServicePassword"] != cred["ServicePassword"]

    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []


@pytest.mark.parametrize("operation", ["delete", "update", "reset"])
def test_unknown_credential_id_is_no_such_entity(iam: IAMClient, user: str, operation: str) -> None:
    """Delete, Update and Reset of an id the user does not hold answer NoSuchEntity."""
    calls: dict[str, Callable[[], object]] = {
        "delete": lambda: iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId="ACCA00000000000000000"
        ),
        "update": lambda: iam.update_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId="ACCA00000000000000000", Status="Active"
        ),
        "reset": lambda: iam.reset_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId="ACCA00000000000000000"
        ),
    }
    with pytest.raises(ClientError) as exc:
        calls[operation]()
    assert error_of(exc) == ("NoSuchEntity", 404)


# --- permissions boundary -------------------------------------------------------------------


def test_user_permissions_boundary_shows_in_get_user_until_deleted(
    iam: IAMClient, user: str
) -> None:
    """Put makes GetUser report the boundary; Delete removes it; a second Delete is a no-op."""
    arn = iam.create_policy(PolicyName=unique("boundary"), PolicyDocument=policy_document("s3:*"))[
        "Policy"
    ]["Arn"]
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=arn)
    assert iam.get_user(UserName=user)["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": arn,
    }
    # Like AWS, ListUsers leaves the boundary out.
    listed = [u for u in iam.list_users()["Users"] if u["UserName"] == user]
    assert "PermissionsBoundary" not in listed[0]

    iam.delete_user_permissions_boundary(UserName=user)
    assert "PermissionsBoundary" not in iam.get_user(UserName=user)["User"]
    iam.delete_user_permissions_boundary(UserName=user)


def test_boundary_errors_for_missing_policy_and_missing_user(iam: IAMClient, user: str) -> None:
    """A customer policy that does not exist, or an unknown user, is NoSuchEntity."""
    missing = f"arn:aws:iam::{ACCOUNT_ID}:policy/{unique('absent')}"
    with pytest.raises(ClientError) as exc:
        iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=missing)
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_user_permissions_boundary(UserName="nobody-here")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_create_user_accepts_a_permissions_boundary(iam: IAMClient) -> None:
    """CreateUser's PermissionsBoundary parameter is honoured, as in AWS."""
    arn = "arn:aws:iam::aws:policy/PowerUserAccess"
    name = unique("bounded")
    created = iam.create_user(UserName=name, PermissionsBoundary=arn)["User"]
    assert created["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    assert (
        iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    )


# --- strict DeleteUser ----------------------------------------------------------------------


def test_delete_user_conflicts_while_a_service_credential_remains(
    iam: IAMClient, user: str
) -> None:
    """DeleteUser answers DeleteConflict (409) until the credential is deleted, then succeeds."""
    cred_id = iam.create_service_specific_credential(
        UserName=user, ServiceName="codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert error_of(exc) == ("DeleteConflict", 409)
    assert "service specific credentials" in str(exc.value)

    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)
    iam.delete_user(UserName=user)
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=user)
    assert error_of(exc) == ("NoSuchEntity", 404)


def _add_mfa(iam: IAMClient, user: str) -> None:
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-mfa")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )


def _attach_managed(iam: IAMClient, user: str) -> None:
    arn = iam.create_policy(PolicyName=f"{user}-p", PolicyDocument=policy_document("s3:*"))[
        "Policy"
    ]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)


def _join_group(iam: IAMClient, user: str) -> None:
    iam.create_group(GroupName=f"{user}-g")
    iam.add_user_to_group(GroupName=f"{user}-g", UserName=user)


ATTACHMENTS: dict[str, tuple[Callable[[IAMClient, str], object], str]] = {
    "login-profile": (
        lambda iam, u: iam.create_login_profile(UserName=u, Password="Sandbox-Passw0rd!"),
        "login profile",
    ),
    "access-key": (lambda iam, u: iam.create_access_key(UserName=u), "access keys"),
    "signing-certificate": (
        lambda iam, u: iam.upload_signing_certificate(
            UserName=u, CertificateBody=certificate_pem(u)
        ),
        "signing certificates",
    ),
    "ssh-key": (
        lambda iam, u: iam.upload_ssh_public_key(
            UserName=u, SSHPublicKeyBody=ssh_public_key_body()
        ),
        "SSH public keys",
    ),
    "mfa-device": (_add_mfa, "MFA device"),
    "inline-policy": (
        lambda iam, u: iam.put_user_policy(
            UserName=u, PolicyName="p", PolicyDocument=policy_document("s3:*")
        ),
        "delete policies",
    ),
    "managed-policy": (_attach_managed, "detach all policies"),
    "group": (_join_group, "groups"),
}


@pytest.mark.parametrize("kind", sorted(ATTACHMENTS))
def test_delete_user_conflicts_for_each_attachment_kind(
    iam: IAMClient, user: str, kind: str
) -> None:
    """Any one remaining attachment makes DeleteUser a 409 DeleteConflict naming it."""
    attach, named = ATTACHMENTS[kind]
    attach(iam, user)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert error_of(exc) == ("DeleteConflict", 409)
    assert named in exc.value.response["Error"]["Message"]
    assert iam.get_user(UserName=user)["User"]["UserName"] == user


def test_delete_user_of_a_bare_user_succeeds(iam: IAMClient, user: str) -> None:
    """With nothing attached (tags and a boundary do not count) DeleteUser succeeds."""
    iam.tag_user(UserName=user, Tags=[{"Key": "k", "Value": "v"}])
    iam.put_user_permissions_boundary(
        UserName=user, PermissionsBoundary="arn:aws:iam::aws:policy/PowerUserAccess"
    )
    iam.delete_user(UserName=user)


# --- fixtures -------------------------------------------------------------------------------


def test_create_loaded_user_attaches_every_kind(iam: IAMClient) -> None:
    """A loaded user's listings show every attachment kind the engine must remove."""
    name = unique("loaded")
    loaded = create_loaded_user(iam, name, path="/staff/")
    got = iam.get_user(UserName=name)["User"]
    assert got["Arn"] == loaded.user_arn and got["Path"] == "/staff/"
    assert got["PermissionsBoundary"]["PermissionsBoundaryArn"] == loaded.boundary_arn
    assert {(t["Key"], t["Value"]) for t in got["Tags"]} == set(loaded.tags)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"] == name

    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert sorted(k["AccessKeyId"] for k in keys) == sorted(loaded.access_key_ids)
    assert len(loaded.access_key_ids) == 2
    certs = iam.list_signing_certificates(UserName=name)["Certificates"]
    assert [c["CertificateId"] for c in certs] == [loaded.signing_certificate_id]
    ssh = iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"]
    assert [k["SSHPublicKeyId"] for k in ssh] == [loaded.ssh_public_key_id]
    creds = iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in creds] == list(loaded.service_credential_ids)
    assert {c["ServiceName"] for c in creds} == {
        "codecommit.amazonaws.com",
        "cassandra.amazonaws.com",
    }
    mfa = iam.list_mfa_devices(UserName=name)["MFADevices"]
    assert [d["SerialNumber"] for d in mfa] == [loaded.mfa_serial]
    inline = iam.list_user_policies(UserName=name)["PolicyNames"]
    assert sorted(inline) == sorted(loaded.inline_policy_names) and len(inline) == 2
    attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted(loaded.managed_policy_arns)
    assert len(attached) == 2
    groups = iam.list_groups_for_user(UserName=name)["Groups"]
    assert sorted(g["GroupName"] for g in groups) == sorted(loaded.group_names)
    assert len(groups) == 2


def test_loaded_user_deletes_after_the_full_procedure(iam: IAMClient) -> None:
    """Removing every attachment in the AWS CLI procedure's order lets DeleteUser succeed."""
    loaded = create_loaded_user(iam, unique("proc"))
    name = loaded.user_name
    iam.delete_login_profile(UserName=name)
    for key_id in loaded.access_key_ids:
        iam.delete_access_key(UserName=name, AccessKeyId=key_id)
    iam.delete_signing_certificate(UserName=name, CertificateId=loaded.signing_certificate_id)
    iam.delete_ssh_public_key(UserName=name, SSHPublicKeyId=loaded.ssh_public_key_id)
    for cred_id in loaded.service_credential_ids:
        iam.delete_service_specific_credential(UserName=name, ServiceSpecificCredentialId=cred_id)
    iam.deactivate_mfa_device(UserName=name, SerialNumber=loaded.mfa_serial)
    iam.delete_virtual_mfa_device(SerialNumber=loaded.mfa_serial)
    for policy_name in loaded.inline_policy_names:
        iam.delete_user_policy(UserName=name, PolicyName=policy_name)
    for arn in loaded.managed_policy_arns:
        iam.detach_user_policy(UserName=name, PolicyArn=arn)
    for group in loaded.group_names:
        iam.remove_user_from_group(UserName=name, GroupName=group)
    iam.delete_user(UserName=name)
    assert name not in {u["UserName"] for u in iam.list_users()["Users"]}


def test_run_forever_seeds_demo_users_and_stops_on_request(iam: IAMClient) -> None:
    """run_forever prints the endpoint and exports, seeds demo users, and stops when asked."""
    lines: list[str] = []
    listening = threading.Event()
    stop = threading.Event()

    def out(line: str) -> None:
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            listening.set()

    thread = threading.Thread(
        target=run_forever, args=(0, True), kwargs={"out": out, "stop": stop}, daemon=True
    )
    thread.start()
    assert listening.wait(10), lines
    assert any(line.startswith("IAM sandbox listening on http://127.0.0.1:") for line in lines)
    assert any(line.startswith("export AWS_ENDPOINT_URL_IAM=") for line in lines)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()

    # moto's state is per process, so the demo users are visible here too; seeding is idempotent.
    names = [name for name, _, _ in DEMO_USERS]
    assert seed_demo_users(iam) == names
    for name in names:
        assert iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]


def test_python_m_sandbox_serves_until_sigterm() -> None:
    """`python -m sandbox --port N` prints the exports, answers IAM, and exits 0 on SIGTERM."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}\n" in seen
        client = boto3.client(
            "iam",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert client.list_users()["Users"] == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- request log and fault injection --------------------------------------------------------


def test_request_log_records_service_action_status_and_key(
    sandbox: Sandbox, iam: IAMClient, sts: STSClient, user: str
) -> None:
    """Each handled request is logged once, with its service, action, status and access key."""
    install()  # idempotent: a second install must not double-record
    mark = sandbox.requests.mark()
    iam.get_user(UserName=user)
    sts.get_caller_identity()
    with pytest.raises(ClientError):
        iam.get_user(UserName="nobody-here")
    calls = sandbox.requests.since(mark)
    assert [(c.service, c.action, c.status) for c in calls] == [
        ("iam", "GetUser", 200),
        ("sts", "GetCallerIdentity", 200),
        ("iam", "GetUser", 404),
    ]
    assert {c.access_key_id for c in calls} == {"testing"}
    assert sandbox.requests.actions()[-3:] == ["GetUser", "GetCallerIdentity", "GetUser"]


@pytest.mark.parametrize(
    ("code", "status"),
    [("Throttling", 400), ("ServiceFailure", 500), ("AccessDenied", 403), ("DeleteConflict", 409)],
)
def test_injected_fault_fails_exactly_count_calls_before_moto(
    sandbox: Sandbox, iam: IAMClient, user: str, code: str, status: int
) -> None:
    """The next `count` calls of the action fail with the injected code and status, then pass."""
    inject_fault("DeleteUser", code, count=2, status=status, message="injected for the test")
    mark = sandbox.requests.mark()
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            iam.delete_user(UserName=user)
        assert error_of(exc) == (code, status)
        assert exc.value.response["Error"]["Message"] == "injected for the test"
        # Answered before moto: the user is untouched.
        assert iam.get_user(UserName=user)["User"]["UserName"] == user
    iam.delete_user(UserName=user)
    statuses = [c.status for c in sandbox.requests.since(mark) if c.action == "DeleteUser"]
    assert statuses == [status, status, 200]


def test_clear_faults_drops_pending_faults(iam: IAMClient, user: str) -> None:
    """clear_faults() cancels injected faults that have not fired yet."""
    inject_fault("GetUser", "Throttling", count=5)
    clear_faults()
    assert iam.get_user(UserName=user)["User"]["UserName"] == user


def test_reset_forgets_users(sandbox: Sandbox, iam: IAMClient, user: str) -> None:
    """reset() clears moto's state; the sandbox keeps serving the extended actions."""
    sandbox.reset()
    assert user not in {u["UserName"] for u in iam.list_users()["Users"]}
    fresh = unique("fresh")
    iam.create_user(UserName=fresh)
    iam.create_service_specific_credential(UserName=fresh, ServiceName="codecommit.amazonaws.com")


def test_reset_restores_the_default_last_accessed_job_lifecycle(
    sandbox: Sandbox, iam: IAMClient, user: str
) -> None:
    """After reset() a job answers IN_PROGRESS once, then COMPLETED, whatever was set before."""
    set_last_accessed_job_polls(5)
    fail_next_last_accessed_jobs(3)
    sandbox.reset()
    iam.create_user(UserName=user)
    user_arn = iam.get_user(UserName=user)["User"]["Arn"]
    job_id = iam.generate_service_last_accessed_details(Arn=user_arn)["JobId"]
    statuses = [iam.get_service_last_accessed_details(JobId=job_id)["JobStatus"] for _ in range(2)]
    assert statuses == ["IN_PROGRESS", "COMPLETED"]
