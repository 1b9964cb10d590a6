"""Fuzz the HR receiver from its own OpenAPI document: signed, schema-driven bodies never get a
5xx (bounded number of examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NOT_SET

from deploy.webhook import create_app, sign
from tests.test_webhook import SECRET, RecordingDispatcher, settings_for

pytestmark = pytest.mark.usefixtures("sandbox")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    db = Path(tmp_path_factory.mktemp("fuzz")) / "webhook.sqlite3"
    return create_app(settings_for(db), RecordingDispatcher())


def test_signed_fuzzed_events_never_get_a_server_error(app) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema["/hr/events"]["POST"]
    client = TestClient(app)
    seen: set[int] = set()

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def check(case) -> None:
        body = b"" if case.body is NOT_SET else json.dumps(case.body, default=str).encode()
        response = client.post(
            "/hr/events",
            content=body,
            headers={"Content-Type": "application/json", **sign(SECRET, body)},
        )
        seen.add(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text, body[:300])

    check()
    # The generator reached past the signature check into validation and IAM lookups.
    assert seen - {401}, seen
