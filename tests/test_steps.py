"""Each deletion step on its own (task logic through ``task.fn``), against the sandbox."""

from __future__ import annotations

import pytest

from sandbox.fixtures import create_loaded_user
from tasks.inventory import take_inventory
from tasks.procedure import ATTACHMENT_STEPS, DELETION_PROCEDURE, FINAL_STEP
from tasks.user import resolve_user

pytestmark = pytest.mark.usefixtures("sandbox")


def test_every_step_removes_all_its_items_and_a_second_run_removes_nothing(iam, user_name):
    create_loaded_user(iam, user_name)
    before = take_inventory.fn(user_name)
    for step in DELETION_PROCEDURE:
        first = step.task.fn(user_name)
        second = step.task.fn(user_name)
        assert set(first.removed) == set(before.items(step.name)), step.name
        assert first.removed, f"{step.name} had nothing to remove on a loaded user"
        assert second.removed == () and second.already_absent == (), step.name
        assert first.api_calls >= len(first.removed)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)


def test_items_from_the_inventory_are_acted_on_without_listing_again(iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    step = next(s for s in ATTACHMENT_STEPS if s.name == "access_keys")
    result = step.task.fn(user_name, tuple(loaded.access_key_ids))
    assert set(result.removed) == set(loaded.access_key_ids)
    assert result.api_calls == len(loaded.access_key_ids)  # deletes only, no list call
    assert iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"] == []


def test_an_item_already_gone_is_reported_absent_not_failed(iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    gone = loaded.access_key_ids[0]
    iam.delete_access_key(UserName=user_name, AccessKeyId=gone)
    step = next(s for s in ATTACHMENT_STEPS if s.name == "access_keys")
    result = step.task.fn(user_name, tuple(loaded.access_key_ids))
    assert result.already_absent == (gone,)
    assert result.removed == tuple(loaded.access_key_ids[1:])


def test_mfa_step_deletes_virtual_devices_and_the_device_leaves_the_account(iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    step = next(s for s in ATTACHMENT_STEPS if s.name == "mfa_devices")
    result = step.task.fn(user_name)
    assert result.removed == (loaded.mfa_serial,)
    assert result.api_calls == 3  # list, deactivate, delete
    serials = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]]
    assert loaded.mfa_serial not in serials


def test_inventory_lists_every_attachment_kind_and_makes_no_mutating_call(iam, user_name, sandbox):
    from tests.helpers import mutating

    loaded = create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    summary = resolve_user(user_name)
    inventory = take_inventory.fn(user_name)
    assert mutating([c.action for c in sandbox.requests.since(mark)]) == []
    assert summary.permissions_boundary_arn == loaded.boundary_arn
    assert summary.api_calls == 1
    assert inventory.items("login_profile") == ("login-profile",)
    assert set(inventory.items("access_keys")) == set(loaded.access_key_ids)
    assert {k.status for k in inventory.access_keys} == {"Active"}
    assert inventory.items("signing_certificates") == (loaded.signing_certificate_id,)
    assert "BEGIN CERTIFICATE" in inventory.signing_certificates[0].body
    assert inventory.items("ssh_public_keys") == (loaded.ssh_public_key_id,)
    assert set(inventory.items("service_specific_credentials")) == set(
        loaded.service_credential_ids
    )
    assert {c.service_name for c in inventory.service_specific_credentials} <= {
        "codecommit.amazonaws.com",
        "cassandra.amazonaws.com",
    }
    assert inventory.items("mfa_devices") == (loaded.mfa_serial,)
    assert inventory.mfa_devices[0].kind == "virtual"
    assert set(inventory.items("inline_policies")) == set(loaded.inline_policy_names)
    assert set(inventory.items("attached_policies")) == set(loaded.managed_policy_arns)
    assert set(inventory.items("groups")) == set(loaded.group_names)
    assert inventory.api_calls == len(ATTACHMENT_STEPS)


def test_delete_user_answers_conflict_while_anything_is_attached(iam, user_name):
    from botocore.exceptions import ClientError

    create_loaded_user(iam, user_name)
    with pytest.raises(ClientError) as raised:
        FINAL_STEP.task.fn(user_name)
    assert raised.value.response["Error"]["Code"] == "DeleteConflict"
    iam.get_user(UserName=user_name)
