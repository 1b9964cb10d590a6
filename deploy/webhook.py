"""HR webhook receiver: signed HR events start offboarding, leave and return flow runs.

``POST /hr/events`` checks, in this order, and creates nothing when a check fails: content type
(415), body size (413) and arrival within the body deadline (408), signature and timestamp (401),
JSON without repeated keys (400), schema (422), earlier delivery of the same event id (202 with
the recorded runs, or 409 when the body differs), IAM users (404), then starts one flow run per
IAM user (202). Sign a request with :func:`sign`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from deploy.hr_events import IDENTITY_CENTER_PREFIX, HrEvent, RunRequest, plan_runs
from deploy.idempotency import EventStore, StoredEvent
from deploy.webhook_body import MAX_BODY_BYTES, check_content_type, parse_event, read_body
from deploy.webhook_settings import WebhookConfigError, WebhookSettings, load_settings
from tasks.errors import describe_failure

__all__ = [
    "MAX_BODY_BYTES",
    "DispatchError",
    "PrefectDispatcher",
    "WebhookConfigError",
    "WebhookSettings",
    "create_app",
    "sign",
]

log = structlog.get_logger("offboard.webhook")

TIMESTAMP_HEADER = "X-Offboard-Timestamp"
SIGNATURE_HEADER = "X-Offboard-Signature"
# Older or newer timestamps are refused, so a captured request cannot be replayed later.
TOLERANCE_SECONDS = 300
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")


def _signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers that authenticate ``body`` (timestamp defaults to now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: _signature(secret.encode(), stamp, body),
    }


class DispatchError(Exception):
    """The flow runs could not be started; the sender should deliver the event again."""


class Dispatcher(Protocol):
    def dispatch(self, run: RunRequest) -> str:
        """Start (or find, by ``run.idempotency_key``) the flow run; returns its id."""
        ...


class PrefectDispatcher:
    """Creates deployment runs on the Prefect API named by PREFECT_API_URL."""

    def dispatch(self, run: RunRequest) -> str:
        import httpx
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment
        from prefect.exceptions import PrefectException

        try:
            flow_run = run_deployment(
                run.deployment,
                parameters=dict(run.parameters),
                scheduled_time=run.scheduled_time,
                timeout=0,
                idempotency_key=run.idempotency_key,
                as_subflow=False,
            )
        # RuntimeError is how Prefect reports an unreachable or incompatible API.
        except (httpx.HTTPError, PrefectException, RuntimeError) as exc:
            raise DispatchError(f"could not start {run.deployment}: {exc}") from exc
        if not isinstance(flow_run, FlowRun):
            raise TypeError("PrefectDispatcher.dispatch must run in a thread, not in an event loop")
        return str(flow_run.id)


class EventAccepted(BaseModel):
    event_id: str
    flow_run_ids: list[str]
    duplicate: bool = Field(description="True when the event was received before.")


class ErrorDetail(BaseModel):
    detail: str


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message)


def verify(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raise 401 unless the headers sign ``body`` and the timestamp is within tolerance."""
    if not timestamp or not signature:
        raise _unauthorized(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not TIMESTAMP_PATTERN.fullmatch(timestamp):
        raise _unauthorized(f"{TIMESTAMP_HEADER} is not unix seconds")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise _unauthorized(f"{TIMESTAMP_HEADER} is more than 5 minutes from the receiver's clock")
    expected = _signature(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        raise _unauthorized(f"{SIGNATURE_HEADER} does not match the body")


def resolve_users(event: HrEvent) -> tuple[str, ...]:
    """The IAM users the event is about, and for a termination by employee id the person's
    Identity Center users too (``identity-center:USER_ID``); 404 naming the employee or user
    when there is none."""
    from flows.targets import NoTargetError, named_person

    centre = _identity_center_users(event)
    try:
        person = named_person(event.iam_user_name, event.employee_id)
    except NoTargetError as exc:
        if not centre:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return centre
    return tuple(sorted(person.user_names())) + centre


def _identity_center_users(event: HrEvent) -> tuple[str, ...]:
    if event.type != "termination" or event.employee_id is None or event.iam_user_name:
        return ()
    from tasks.identity_center.instance import NoInstanceError, find_instance
    from tasks.identity_center.lookup import user_ids_by_employee

    try:
        instance = find_instance()
    except NoInstanceError:
        return ()
    found = user_ids_by_employee(instance, (event.employee_id,))[event.employee_id]
    return tuple(f"{IDENTITY_CENTER_PREFIX}{user_id}" for user_id in sorted(found))


# A delivery that finds the event claimed waits for it; this many rounds when claims keep
# being released (each start failing) before it answers 503.
CLAIM_ROUNDS = 3


class Receiver:
    """What happens to a verified, valid event; runs in a worker thread (IAM, SQLite, Prefect)."""

    def __init__(self, store: EventStore, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    def accept(self, event: HrEvent) -> EventAccepted:
        """Start the event's runs once; every other delivery, also a concurrent one, answers
        ``duplicate: true`` with the same run ids."""
        digest = event.digest()
        for _ in range(CLAIM_ROUNDS):
            stored = self.store.get(event.event_id)
            if stored is not None:
                self._same_body(stored, digest)
                if stored.flow_run_ids is not None:
                    return self._duplicate(stored)
                # The users stored with the claim, so a redelivery after a stop starts the same
                # runs even when the user is gone by now.
                user_names = stored.user_names
            else:
                try:
                    user_names = resolve_users(event)
                except (ClientError, BotoCoreError) as exc:
                    raise HTTPException(status_code=503, detail=_iam_failure(exc)) from None
            claim = self.store.claim(event.event_id, digest, user_names)
            self._same_body(claim.stored, digest)
            if claim.stored.flow_run_ids is not None:
                return self._duplicate(claim.stored)
            if claim.owned:
                return self._start(event, claim.stored)
            finished = self.store.wait_for_runs(event.event_id)
            if finished is not None:
                return self._duplicate(finished)
        raise HTTPException(
            status_code=503,
            detail=f"event {event.event_id} is being started by another delivery; "
            "deliver the event again",
        )

    @staticmethod
    def _same_body(stored: StoredEvent, digest: str) -> None:
        if stored.body_sha256 != digest:
            raise HTTPException(
                status_code=409,
                detail=f"event {stored.event_id} was received before with a different body",
            )

    @staticmethod
    def _duplicate(stored: StoredEvent) -> EventAccepted:
        assert stored.flow_run_ids is not None
        log.info("webhook.duplicate", event_id=stored.event_id, runs=stored.flow_run_ids)
        return EventAccepted(
            event_id=stored.event_id, flow_run_ids=list(stored.flow_run_ids), duplicate=True
        )

    def _start(self, event: HrEvent, stored: StoredEvent) -> EventAccepted:
        runs = plan_runs(event, stored.user_names, datetime.now(UTC))
        try:
            started = tuple(self.dispatcher.dispatch(run) for run in runs)
        except DispatchError as exc:
            self.store.release(event.event_id)
            log.warning("webhook.dispatch_failed", event_id=event.event_id, error=str(exc))
            raise HTTPException(status_code=503, detail=f"{exc}; deliver the event again") from None
        except BaseException:
            self.store.release(event.event_id)
            raise
        recorded = self.store.complete(event.event_id, started)
        log.info(
            "webhook.accepted",
            event_id=event.event_id,
            type=event.type,
            users=stored.user_names,
            runs=recorded,
        )
        return EventAccepted(event_id=event.event_id, flow_run_ids=list(recorded), duplicate=False)


def _iam_failure(exc: ClientError | BotoCoreError) -> str:
    code, action, message = describe_failure(exc)
    where = f" on {action}" if action else ""
    return f"IAM lookup failed: {code}{where}: {message}"


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


def _request_body_schema() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": HrEvent.model_json_schema()}},
        }
    }


def create_app(
    settings: WebhookSettings | None = None, dispatcher: Dispatcher | None = None
) -> FastAPI:
    """The receiver; settings default to the environment, runs to Prefect deployments.

    Raises WebhookConfigError (one line) when the secret is missing."""
    config = settings or load_settings()
    secret = config.webhook_secret.get_secret_value().encode()
    receiver = Receiver(EventStore(config.event_db()), dispatcher or PrefectDispatcher())
    app = FastAPI(
        title="offboard HR webhook",
        version="1",
        description=(
            "Signed HR events start IAM offboarding (termination), deactivation for a leave "
            "window (leave) and reactivation (return). Sign each request: "
            f"`{SIGNATURE_HEADER}: sha256=HMAC-SHA256(secret, timestamp + '.' + body)` "
            f"with `{TIMESTAMP_HEADER}` in unix seconds, within 5 minutes of the receiver's clock."
        ),
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/hr/events",
        status_code=202,
        response_model=EventAccepted,
        responses={
            400: _error("The body is not JSON, or an object in it repeats a key."),
            401: _error("Missing or wrong signature, or a timestamp outside 5 minutes."),
            404: _error("No IAM user for the employee id or user name."),
            408: _error("The body did not arrive in time; the connection is closed."),
            409: _error("The event id was received before with a different body."),
            413: _error("The body is too large."),
            415: _error("The body is not declared as `application/json`."),
            503: _error("IAM or Prefect could not be reached; deliver the event again."),
        },
        openapi_extra=_request_body_schema(),
    )
    async def receive_event(
        request: Request,
        timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
        signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
    ) -> EventAccepted:
        """Start the flow runs for one HR event; a repeated event id returns the same runs."""
        check_content_type(request.headers.get("content-type"))
        body = await read_body(request, config.webhook_body_timeout_seconds)
        try:
            verify(secret, timestamp, signature, body, time.time())
        except HTTPException as exc:
            log.warning("webhook.unauthorized", reason=exc.detail)
            raise
        event = parse_event(body)
        return await run_in_threadpool(receiver.accept, event)

    return app
