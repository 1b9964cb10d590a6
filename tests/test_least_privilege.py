"""The engine's IAM policy is least privilege, proven against the sandbox under IAM enforcement.

An engine IAM user whose only policy is ``engine_policy()`` runs every entry point: plan, review,
run (snapshot on S3), deactivate (keys too), reactivate, restore (from that snapshot), leave sync,
rename, the listings (``offboard users --group`` / ``offboard groups``, the only callers of
``iam:GetGroup``), ``offboard references clean`` (a deleted user named by a resource policy of
every kind the scan reads, both the rewrite and the delete call of each), ``offboard references
scan`` of every enabled region (``ec2:DescribeRegions``), and for IAM Identity Center: a run
(session deny, assignments, memberships, the user), the employee-id lookup, a restore and the
pruning of expired session denies. The sandbox's request log gives the actions each run called
with the engine's key; together they are exactly the policy's actions. Then, for each action,
the policy without it is put on the engine user and every run that called the action is
repeated on fresh fixtures: each
must fail with AccessDenied on that action, named in its report or error (a flow that swallowed
the denial would succeed and fail the proof). ``sts:GetCallerIdentity`` needs no permission (in
AWS as in the sandbox), so the engine does not declare it.

Fixtures are made with the admin's dummy key while enforcement is off; only the engine's own
calls run under enforcement.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from config.settings import REFERENCE_SERVICES
from flows.deactivation import deactivate_user, reactivate_user
from flows.identity_center import (
    IdcOffboardRequest,
    offboard_identity_center_one,
)
from flows.identity_center_prune import prune_identity_center_denies
from flows.identity_center_restore import restore_identity_center
from flows.leave_sync import sync_leave_deactivations
from flows.offboard_user import run_offboarding
from flows.references import clean_references, scan_user
from flows.rename_user import rename_user
from flows.restore_user import restore_user
from sandbox.auth import enforce_iam_authorization
from sandbox.fixtures import create_loaded_user
from sandbox.identity_center_fixtures import IdentityCenterPerson, create_identity_center_person
from sandbox.request_actions import s3_action
from sandbox.request_log import RecordedCall
from sandbox.server import Sandbox
from tasks.aws import ClientFactory, set_client_factory
from tasks.deactivation import DENY_POLICY_NAME, DenyWindow, deny_document, iam_time
from tasks.identity_center.instance import find_instance
from tasks.identity_center.lookup import user_ids_by_employee
from tasks.identity_center.session_deny import deny_statement
from tasks.inventory import take_inventory
from tasks.listing import list_groups_for_user, list_users
from tasks.permissions import engine_permissions, engine_policy
from tasks.review import review_access
from tasks.user import resolve_user
from tests.helpers import engine_settings
from tests.test_sandbox_references import Policies

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

BUCKET = "offboard-least-privilege"
SNAPSHOT_STORE = f"s3://{BUCKET}/snapshots"
ENGINE_POLICY_NAME = "offboard-engine"
# Needs no permission in AWS either; every other call the engine makes must be declared.
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


def unique(prefix: str) -> str:
    return f"lp-{prefix}-{uuid.uuid4().hex[:10]}"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def policy_without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    """`policy` with one action taken out (and a statement left empty dropped)."""
    statements = []
    for statement in policy["Statement"]:
        actions = [a for a in statement["Action"] if a != action]
        if actions:
            statements.append({**statement, "Action": actions})
    return {**policy, "Statement": statements}


def policy_actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


# Services whose IAM action prefix is not the service's name.
ACTION_PREFIXES = {"sso-admin": "sso"}
# S3 operations authorized by an IAM action of another name.
S3_PERMISSION = {"ListBuckets": "ListAllMyBuckets", "ListObjects": "ListBucket"}


def action_of(call: RecordedCall) -> str:
    """``service:Action`` of a recorded call; S3's REST calls are named from method and path."""
    name = call.action
    if call.service == "s3" and not name:
        name = s3_action(call.method, call.path, {}, {})
    if call.service == "s3":
        name = S3_PERMISSION.get(name or "", name)
    return f"{ACTION_PREFIXES.get(call.service, call.service)}:{name}"


def names_action(text: str, action: str) -> bool:
    """Whether `text` names `action` (``DeleteUser`` is not named by ``DeleteUserPolicy``)."""
    name = action.partition(":")[2]
    return re.search(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", text) is not None


@dataclass(frozen=True)
class Outcome:
    """How one scenario ended: succeeded or not, and the text that says why."""

    ok: bool
    detail: str


def report_outcome(ok: bool, report: Any) -> Outcome:
    failure = getattr(report, "failure", None)
    failures = getattr(report, "failures", ()) or ((failure,) if failure else ())
    lines = [f"outcome {getattr(report, 'outcome', '?')}"]
    lines += [f"{f.step}: {f.error_code} on {f.action}: {f.message}" for f in failures]
    if getattr(report, "message", None):
        lines.append(report.message)
    return Outcome(ok, "\n".join(lines))


@dataclass
class World:
    """The sandbox, the admin clients (dummy key, used while enforcement is off) and the
    engine user whose only policy is the one under test."""

    sandbox: Sandbox
    tmp: Path
    iam: Any
    s3: Any
    engine_user: str
    key_id: str
    factory: ClientFactory
    # Handed from one scenario to the next in the complete run.
    snapshot: str | None = None
    deactivated: list[str] = field(default_factory=list)
    _read_only_target: str | None = None

    def grant(self, policy: dict[str, Any]) -> None:
        self.iam.put_user_policy(
            UserName=self.engine_user,
            PolicyName=ENGINE_POLICY_NAME,
            PolicyDocument=json.dumps(policy),
        )

    @contextmanager
    def as_engine(self) -> Iterator[None]:
        """The engine's clients sign with the engine user's key, and IAM authorizes them."""
        set_client_factory(self.factory)
        try:
            with enforce_iam_authorization():
                yield
        finally:
            set_client_factory(None)

    def read_only_target(self) -> str:
        """A loaded user that plan, review and the listings only read, so it is made once."""
        if self._read_only_target is None:
            self._read_only_target = create_loaded_user(
                self.iam, unique("read"), path="/staff/"
            ).user_name
        return self._read_only_target


# --- scenarios: prepare (admin, enforcement off), then act (engine, enforcement on) ----------


def prepare_read_only(world: World) -> str:
    return world.read_only_target()


def act_plan(world: World, name: str) -> Outcome:
    user = resolve_user(name)
    inventory = take_inventory.fn(name)
    kinds = set(inventory.attachments())
    expected = set(type(inventory).model_fields) - {"user_name", "api_calls"}
    return Outcome(user.user_name == name and kinds == expected, f"attachments {sorted(kinds)}")


def prepare_review(world: World) -> tuple[Any, Any]:
    name = world.read_only_target()
    # The default factory: the admin's dummy key, enforcement off.
    return resolve_user(name), take_inventory.fn(name)


def act_review(world: World, found: tuple[Any, Any]) -> Outcome:
    user, inventory = found
    review = review_access.fn(user, inventory)
    keys = {k.access_key_id for k in review.access_keys}
    ok = review.complete and keys == set(inventory.items("access_keys"))
    return Outcome(ok, f"complete {review.complete}: {review.incomplete_reason}")


def prepare_run(world: World) -> str:
    loaded = create_loaded_user(world.iam, unique("run"), path="/staff/")
    name = loaded.user_name
    # Inactive credentials, so a restore from this snapshot has statuses to put back too.
    world.iam.update_ssh_public_key(
        UserName=name, SSHPublicKeyId=loaded.ssh_public_key_id, Status="Inactive"
    )
    world.iam.update_signing_certificate(
        UserName=name, CertificateId=loaded.signing_certificate_id, Status="Inactive"
    )
    return name


def act_run(world: World, name: str) -> Outcome:
    report = run_offboarding(name, reason="least-privilege proof", ticket="LP-1")
    snapshot = report.snapshot.location if report.snapshot else None
    ok = report.outcome == "deleted" and bool(snapshot and snapshot.startswith(SNAPSHOT_STORE))
    if ok and world.snapshot is None:
        world.snapshot = snapshot
    return report_outcome(ok, report)


def prepare_deactivate(world: World) -> str:
    name = unique("deact")
    world.iam.create_user(UserName=name)
    for _ in range(2):
        world.iam.create_access_key(UserName=name)
    return name


def act_deactivate(world: World, name: str) -> Outcome:
    report = deactivate_user(user_name=name, disable_keys=True, reason="least-privilege proof")
    keys = [k for change in report.changes for k in change.keys_changed]
    ok = report.outcome == "done" and len(keys) == 2
    if ok:
        world.deactivated.append(name)
    return report_outcome(ok, report)


def prepare_reactivate(world: World) -> str:
    """The user the engine deactivated in the complete run; later a fresh one, deactivated
    by the admin the way the engine does it."""
    if world.deactivated:
        return world.deactivated.pop()
    name = prepare_deactivate(world)
    report = deactivate_user(user_name=name, disable_keys=True)
    assert report.outcome == "done", report
    return name


def act_reactivate(world: World, name: str) -> Outcome:
    report = reactivate_user(user_name=name, reason="least-privilege proof")
    removed = [p for change in report.changes for p in change.policies_removed]
    keys = [k for change in report.changes for k in change.keys_changed]
    ok = report.outcome == "done" and removed == [DENY_POLICY_NAME] and len(keys) == 2
    return report_outcome(ok, report)


def prepare_restore(world: World) -> tuple[str, str | None]:
    """The run's S3 snapshot; under its own name while that is free, else under a new one."""
    assert world.snapshot is not None, "the run scenario left no snapshot"
    original = world.snapshot.split("/")[-2]
    try:
        world.iam.get_user(UserName=original)
    except world.iam.exceptions.NoSuchEntityException:
        return world.snapshot, None
    return world.snapshot, unique("restored")


def act_restore(world: World, found: tuple[str, str | None]) -> Outcome:
    location, new_name = found
    report = restore_user(snapshot_location=location, new_name=new_name)
    empty = [step.step for step in report.steps if not step.restored]
    outcome = report_outcome(report.outcome == "restored" and not empty, report)
    return Outcome(outcome.ok, f"{outcome.detail}; restored nothing for {empty}")


def prepare_leave(world: World) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    name = unique("leave")
    employee = f"E-{name[-10:]}"
    world.iam.create_user(UserName=name, Tags=[{"Key": "employee_id", "Value": employee}])
    ended = DenyWindow(start=now - timedelta(days=9), end=now - timedelta(days=2))
    # Left by an earlier sync for a window that has since ended: this sync removes it.
    world.iam.put_user_policy(
        UserName=name,
        PolicyName=ended.policy_name(),
        PolicyDocument=json.dumps(deny_document(ended)),
    )
    calendar = world.tmp / f"{name}.yaml"
    entry = {
        "employee_id": employee,
        "start": iam_time(now + timedelta(days=3)),
        "end": iam_time(now + timedelta(days=5)),
        "reason": "least-privilege proof",
    }
    calendar.write_text(yaml.safe_dump({"leave": [entry]}))
    return str(calendar)


def act_leave(world: World, calendar: str) -> Outcome:
    report = sync_leave_deactivations(calendar=calendar)
    changes = [(len(c.policies_put), len(c.policies_removed)) for c in report.users]
    skipped = [f"{s.entry}: {s.problem}" for s in report.skipped]
    return Outcome(changes == [(1, 1)] and not skipped, f"changes {changes}, skipped {skipped}")


def prepare_rename(world: World) -> tuple[str, str]:
    """A user named as a resource by a managed policy already at five versions and by user,
    group and role inline policies."""
    iam = world.iam
    name = unique("rename")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    allow = {"Effect": "Allow", "Action": "iam:ChangePassword", "Resource": arn}
    managed = iam.create_policy(PolicyName=f"{name}-managed", PolicyDocument=document(allow))
    managed_arn = managed["Policy"]["Arn"]
    for i in range(4):
        iam.create_policy_version(
            PolicyArn=managed_arn, PolicyDocument=document(allow | {"Sid": f"V{i}"})
        )
    iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=document(allow))
    group = f"{name}-group"
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)
    iam.put_group_policy(GroupName=group, PolicyName="member", PolicyDocument=document(allow))
    role = f"{name}-role"
    trust = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}
    iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=document(trust | {"Action": "sts:AssumeRole"})
    )
    iam.put_role_policy(RoleName=role, PolicyName="manage", PolicyDocument=document(allow))
    return name, unique("renamed")


def act_rename(world: World, names: tuple[str, str]) -> Outcome:
    old, new = names
    report = rename_user(user_name=old, new_name=new, reason="least-privilege proof")
    kinds = {a.kind for a in report.applied if a.outcome == "done"}
    deleted = [a.deleted_version_id for a in report.applied if a.deleted_version_id]
    ok = report.outcome == "renamed" and len(kinds) == 4 and bool(deleted)
    return report_outcome(ok, report)


def prepare_listing(world: World) -> tuple[str, str]:
    name = world.read_only_target()
    group = world.iam.list_groups_for_user(UserName=name)["Groups"][0]["GroupName"]
    return name, group


def prepare_references(world: World) -> tuple[str, set[str]]:
    """A user named by a resource policy of every kind the scan reads (and a KMS grant), then
    offboarded (as the admin): the policies now show its unique id, as AWS shows them, and the
    trail knows its ARN and unique id."""
    name = unique("refs")
    user = world.iam.create_user(UserName=name)["User"]
    named = Policies(world.sandbox, user["Arn"])
    named.kms.create_grant(
        KeyId=named.key, GranteePrincipal=user["Arn"], Operations=["Decrypt"], Name=name
    )
    # Where Policies leaves no principal (the policy is deleted) or another one (rewritten),
    # one resource the other way round, so both calls of each service are made.
    other = f"arn:aws:iam::{user['Arn'].split(':')[4]}:role/{name}-other"
    s3 = world.sandbox.client("s3", region_name="eu-west-1")
    bucket = f"{name}-alone"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    alone = {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "s3:GetObject"}
    s3.put_bucket_policy(
        Bucket=bucket, Policy=document(alone | {"Resource": f"arn:aws:s3:::{bucket}/*"})
    )
    shared = {"Effect": "Allow", "Principal": {"AWS": [user["Arn"], other]}, "Resource": "*"}
    secret = named.secrets.create_secret(Name=f"{name}-shared", SecretString="hidden")["ARN"]
    named.secrets.put_resource_policy(
        SecretId=secret,
        ResourcePolicy=document(shared | {"Action": "secretsmanager:GetSecretValue"}),
    )
    shared.pop("Resource")
    named.ecr.create_repository(repositoryName=f"{name}/shared")
    named.ecr.set_repository_policy(
        repositoryName=f"{name}/shared",
        policyText=document(shared | {"Sid": "Pull", "Action": "ecr:BatchGetImage"}),
    )
    deleted = run_offboarding(name, reason="least-privilege proof")
    assert deleted.outcome == "deleted", deleted.failure
    return name, {
        named.key,
        f"arn:aws:iam::{user['Arn'].split(':')[4]}:role/{named.role}",
        f"arn:aws:s3:::{named.bucket}",
        named.topic,
        named.secret,
        named.function,
    }


def gaps(report: Any) -> list[str]:
    return [
        f"not scanned {n.service} {n.resource_arn} in {n.region}: {n.reason} on {n.action}"
        for n in report.not_scanned
    ]


def act_references(world: World, found: tuple[str, set[str]]) -> Outcome:
    """`offboard references clean USER`: every kind read, every kind cleaned."""
    name, expected = found
    report = clean_references(user=name, reason="least-privilege proof")
    cleaned = {r.service for r in report.resources if r.outcome == "cleaned"}
    arns = {r.resource_arn for r in report.resources}
    ok = (
        report.outcome == "done"
        and not report.not_scanned
        and cleaned == set(REFERENCE_SERVICES)
        and expected <= arns
    )
    outcome = report_outcome(ok, report)
    return Outcome(ok, "\n".join([outcome.detail, f"cleaned {sorted(cleaned)}", *gaps(report)]))


def prepare_regions(world: World) -> str:
    return world.read_only_target()


def act_regions(world: World, name: str) -> Outcome:
    """`offboard references scan USER` with no region set: every enabled region is read."""
    with engine_settings(reference_regions="[]", reference_services='["kms"]'):
        _, found = scan_user(name)
    ok = len(found.regions) > 2 and not found.not_scanned
    return Outcome(ok, "\n".join([f"regions {len(found.regions)}", *gaps(found)]))


def act_listing(world: World, found: tuple[str, str]) -> Outcome:
    name, group = found
    everyone = {u.user_name for u in list_users(path_prefix="/staff/")}
    members = {u.user_name for u in list_users(group=group)}
    groups = {g.group_name for g in list_groups_for_user(name)}
    ok = name in everyone and name in members and group in groups
    return Outcome(ok, f"users {len(everyone)}, members {members}, groups {groups}")


def prepare_identity_center_person(world: World) -> IdentityCenterPerson:
    return create_identity_center_person(
        world.sandbox.client("sso-admin"),
        world.sandbox.client("identitystore"),
        unique("idc").replace("-", "."),
        accounts=("111111111111", "222222222222"),
    )


def act_identity_center_run(world: World, person: IdentityCenterPerson) -> Outcome:
    report = offboard_identity_center_one(
        IdcOffboardRequest(value=person.user_name, reason="least-privilege proof")
    )
    snapshot = report.snapshot.location if report.snapshot else ""
    ok = report.outcome == "deleted" and snapshot.startswith(SNAPSHOT_STORE)
    return report_outcome(ok and len(report.session_deny) == 2, report)


def prepare_identity_center_lookup(world: World) -> tuple[str, str]:
    employee = f"E-{uuid.uuid4().hex[:10]}"
    person = create_identity_center_person(
        world.sandbox.client("sso-admin"),
        world.sandbox.client("identitystore"),
        unique("idc").replace("-", "."),
        employee_id=employee,
        accounts=(),
    )
    return employee, person.user_id


def act_identity_center_lookup(world: World, found: tuple[str, str]) -> Outcome:
    employee, user_id = found
    answer = user_ids_by_employee(find_instance(), (employee,))
    return Outcome(answer == {employee: (user_id,)}, f"found {answer}")


def prepare_identity_center_restore(world: World) -> str:
    """A person offboarded by the admin (enforcement off): the snapshot to restore from."""
    person = prepare_identity_center_person(world)
    report = offboard_identity_center_one(IdcOffboardRequest(value=person.user_name))
    assert report.outcome == "deleted" and report.snapshot is not None, report
    return report.snapshot.location


def act_identity_center_restore(world: World, location: str) -> Outcome:
    report = restore_identity_center(location, reason="least-privilege proof")
    restored = report.restored
    ok = report.outcome == "restored" and restored is not None
    ok = ok and restored is not None and len(restored.assignments) == 2 and not restored.missing
    return report_outcome(ok, report)


def prepare_identity_center_prune(world: World) -> tuple[str, ...]:
    """Two permission sets with a deny whose time has passed: one holds nothing else."""
    person = prepare_identity_center_person(world)
    sso = world.sandbox.client("sso-admin")
    expired = deny_statement(person.user_id, datetime.now(UTC) - timedelta(hours=1))
    first, second = person.permission_set_arns
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    for arn, statements in ((first, [expired]), (second, [allow, expired])):
        sso.put_inline_policy_to_permission_set(
            InstanceArn=person.instance_arn,
            PermissionSetArn=arn,
            InlinePolicy=document(*statements),
        )
    return (first, second)


def act_identity_center_prune(world: World, arns: tuple[str, ...]) -> Outcome:
    state = prune_identity_center_denies(return_state=True)
    report = state.result(raise_on_failure=False)
    if isinstance(report, BaseException):  # the flow raised: its message says why
        return Outcome(False, f"{type(report).__name__}: {report}")
    pruned = {c.permission_set_arn for c in getattr(report, "pruned", ())}
    return report_outcome(set(arns) <= pruned, report)


@dataclass(frozen=True)
class Scenario:
    name: str
    prepare: Callable[[World], Any]
    act: Callable[[World, Any], Outcome]


SCENARIOS = (
    Scenario("plan", prepare_read_only, act_plan),
    Scenario("review", prepare_review, act_review),
    Scenario("run", prepare_run, act_run),
    Scenario("deactivate", prepare_deactivate, act_deactivate),
    Scenario("reactivate", prepare_reactivate, act_reactivate),
    Scenario("restore", prepare_restore, act_restore),
    Scenario("leave-sync", prepare_leave, act_leave),
    Scenario("rename", prepare_rename, act_rename),
    Scenario("listing", prepare_listing, act_listing),
    Scenario("identity-center-run", prepare_identity_center_person, act_identity_center_run),
    Scenario("identity-center-lookup", prepare_identity_center_lookup, act_identity_center_lookup),
    Scenario(
        "identity-center-restore", prepare_identity_center_restore, act_identity_center_restore
    ),
    Scenario("identity-center-prune", prepare_identity_center_prune, act_identity_center_prune),
    Scenario("references-clean", prepare_references, act_references),
    Scenario("references-regions", prepare_regions, act_regions),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


@dataclass(frozen=True)
class Performed:
    outcome: Outcome
    calls: tuple[RecordedCall, ...]
    seconds: float

    @property
    def actions(self) -> set[str]:
        return {action_of(call) for call in self.calls}

    @property
    def denied(self) -> set[str]:
        return {action_of(call) for call in self.calls if call.status == 403}


def perform(world: World, scenario: Scenario) -> Performed:
    """Prepare as the admin, then act as the engine under enforcement; the engine's calls."""
    prepared = scenario.prepare(world)
    mark = world.sandbox.requests.mark()
    started = time.monotonic()
    with world.as_engine():
        try:
            outcome = scenario.act(world, prepared)
        except Exception as exc:  # a flow that raised: its message says why
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - started
    calls = tuple(c for c in world.sandbox.requests.since(mark) if c.access_key_id == world.key_id)
    return Performed(outcome, calls, seconds)


@dataclass
class CompleteRun:
    world: World
    performed: dict[str, Performed]

    def scenarios_calling(self, action: str) -> list[str]:
        """The scenarios that called `action`, quickest first."""
        found = [name for name, done in self.performed.items() if action in done.actions]
        return sorted(found, key=lambda name: self.performed[name].seconds)


@pytest.fixture(scope="module")
def world(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    iam = sandbox.client("iam")
    s3 = sandbox.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    engine_user = unique("engine")
    iam.create_user(UserName=engine_user)
    key = iam.create_access_key(UserName=engine_user)["AccessKey"]
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )
    built = World(
        sandbox=sandbox,
        tmp=tmp_path_factory.mktemp("least-privilege"),
        iam=iam,
        s3=s3,
        engine_user=engine_user,
        key_id=key["AccessKeyId"],
        factory=ClientFactory(session=session),
    )
    built.grant(engine_policy())
    # Prefect's heartbeat thread costs each flow run up to a second at its end; this module
    # runs about a hundred flows, none long enough to need one.
    with (
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        # Two regions keep the reference scans short; one scenario reads every enabled region.
        engine_settings(
            snapshot_store=SNAPSHOT_STORE,
            identity_center_poll_seconds="0.01",
            reference_regions='["us-east-1", "eu-west-1"]',
        ),
    ):
        yield built
    set_client_factory(None)
    # The engine identity holds a broad policy and an active key: it does not outlive the module.
    iam.delete_access_key(UserName=engine_user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=engine_user, PolicyName=ENGINE_POLICY_NAME)
    iam.delete_user(UserName=engine_user)


@pytest.fixture(scope="module")
def complete(world: World) -> CompleteRun:
    """Every scenario once, the engine holding exactly engine_policy()."""
    world.grant(engine_policy())
    return CompleteRun(world, {s.name: perform(world, s) for s in SCENARIOS})


def test_the_engine_user_holds_exactly_the_engine_policy(world: World) -> None:
    """The proof runs as a user whose only policy is engine_policy(): no group, no managed one."""
    iam = world.iam
    assert iam.list_user_policies(UserName=world.engine_user)["PolicyNames"] == [ENGINE_POLICY_NAME]
    held = iam.get_user_policy(UserName=world.engine_user, PolicyName=ENGINE_POLICY_NAME)
    assert held["PolicyDocument"] == engine_policy()
    assert iam.list_attached_user_policies(UserName=world.engine_user)["AttachedPolicies"] == []
    assert iam.list_groups_for_user(UserName=world.engine_user)["Groups"] == []
    assert iam.get_user(UserName=world.engine_user)["User"].get("PermissionsBoundary") is None


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_with_exactly_the_engine_policy_every_flow_succeeds(
    complete: CompleteRun, name: str
) -> None:
    """Under enforcement the engine user runs the flow to success and is never denied."""
    done = complete.performed[name]
    assert done.outcome.ok, done.outcome.detail
    assert done.denied == set(), done.denied
    assert done.calls, "the engine made no call: it did not run as the engine user"


def test_the_flows_call_exactly_the_actions_of_the_policy(complete: CompleteRun) -> None:
    """No declared action goes unused (the policy is no larger than needed) and every call
    needing a permission is declared (a missing one would have been denied above)."""
    called = set().union(*(done.actions for done in complete.performed.values()))
    policy = policy_actions(engine_policy())
    assert policy == set(engine_permissions())
    assert sorted(policy - called) == [], (
        f"declared but called by no flow: {sorted(policy - called)}"
    )
    assert sorted(called - policy - ALWAYS_ALLOWED) == [], "called but not declared"


@pytest.mark.parametrize("action", engine_permissions())
def test_without_any_one_action_a_flow_fails_with_access_denied_naming_it(
    complete: CompleteRun, action: str
) -> None:
    """Every flow that called the action, run again without it, fails with AccessDenied on it."""
    world = complete.world
    scenarios = complete.scenarios_calling(action)
    assert scenarios, f"{action} is declared but no flow calls it"
    world.grant(policy_without(engine_policy(), action))
    try:
        problems = []
        for name in scenarios:
            done = perform(world, BY_NAME[name])
            detail = done.outcome.detail
            if done.outcome.ok:
                problems.append(f"{name}: succeeded without {action}")
            elif action not in done.denied:
                problems.append(f"{name}: {action} was never denied: {detail}")
            elif "AccessDenied" not in detail or not names_action(detail, action):
                problems.append(f"{name}: the failure does not name AccessDenied on it: {detail}")
        assert problems == []
    finally:
        world.grant(engine_policy())
