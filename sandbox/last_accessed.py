"""GenerateServiceLastAccessedDetails / GetServiceLastAccessedDetails, which moto lacks.

The report is taken when the job is generated, from the entity's policies and the activity in
:mod:`sandbox.access_activity`. Like AWS, a job first answers ``IN_PROGRESS`` for a while so
callers have to poll; :func:`set_last_accessed_job_polls` and
:func:`fail_next_last_accessed_jobs` shape that lifecycle.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.iam.exceptions import InvalidInput, NotFoundException
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse
from moto.moto_api._internal import mock_random

from sandbox.access_activity import ServiceAccess, accesses_of
from sandbox.paging import page
from sandbox.policy_services import granted_namespaces, report_subject

__all__ = [
    "DEFAULT_JOB_POLLS",
    "IAM_ACTIONS",
    "SERVICE_NAMES",
    "LastAccessedJob",
    "fail_next_last_accessed_jobs",
    "reset_last_accessed_jobs",
    "set_last_accessed_job_polls",
]

# Friendly names for common namespaces; others fall back to the namespace.
SERVICE_NAMES: dict[str, str] = {
    "cassandra": "Amazon Keyspaces",
    "cloudwatch": "Amazon CloudWatch",
    "codecommit": "AWS CodeCommit",
    "dynamodb": "Amazon DynamoDB",
    "ec2": "Amazon EC2",
    "iam": "AWS Identity and Access Management",
    "kms": "AWS Key Management Service",
    "lambda": "AWS Lambda",
    "logs": "Amazon CloudWatch Logs",
    "s3": "Amazon S3",
    "secretsmanager": "AWS Secrets Manager",
    "sns": "Amazon SNS",
    "sqs": "Amazon SQS",
    "sts": "AWS Security Token Service",
}

_GRANULARITIES = ("SERVICE_LEVEL", "ACTION_LEVEL")

# How many GetServiceLastAccessedDetails calls a new job answers IN_PROGRESS.
DEFAULT_JOB_POLLS = 1
DEFAULT_FAILURE_CODE = "ServiceFailure"
DEFAULT_FAILURE_MESSAGE = "The service last accessed report could not be generated."


@dataclass
class LastAccessedJob:
    job_id: str
    job_type: str
    created: datetime
    completed: datetime
    services: list[dict[str, Any]] = field(default_factory=list)
    polls_left: int = 0
    error: dict[str, str] | None = None


class _JobSettings:
    """The lifecycle new jobs get; process-wide like moto's state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.polls = DEFAULT_JOB_POLLS
        self.failures: deque[dict[str, str]] = deque()

    def reset(self) -> None:
        with self.lock:
            self.polls = DEFAULT_JOB_POLLS
            self.failures.clear()


_SETTINGS = _JobSettings()
# Guards each job's poll countdown; moto's own backends are not locked.
_JOBS_LOCK = threading.Lock()


def set_last_accessed_job_polls(n: int) -> None:
    """Make each new job answer ``IN_PROGRESS`` (with no entries) to its first ``n`` polls.

    0 makes jobs complete at once. Jobs already generated keep the count they started with.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    with _SETTINGS.lock:
        _SETTINGS.polls = n


def fail_next_last_accessed_jobs(
    count: int = 1,
    *,
    code: str = DEFAULT_FAILURE_CODE,
    message: str = DEFAULT_FAILURE_MESSAGE,
) -> None:
    """Make the next ``count`` generated jobs end ``FAILED`` with ``Error`` {Message, Code}.

    They still answer ``IN_PROGRESS`` first, as many polls as any other job.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    with _SETTINGS.lock:
        _SETTINGS.failures.extend({"Message": message, "Code": code} for _ in range(count))


def reset_last_accessed_jobs() -> None:
    """Back to the default lifecycle: one IN_PROGRESS poll, no pending failures."""
    _SETTINGS.reset()


def _jobs(backend: IAMBackend) -> dict[str, LastAccessedJob]:
    # Kept on the backend so a moto reset clears it.
    jobs: dict[str, LastAccessedJob] = backend.__dict__.setdefault("service_last_accessed_jobs", {})
    return jobs


def _tracked_actions(hits: list[tuple[str, ServiceAccess]]) -> list[dict[str, Any]]:
    latest: dict[str, tuple[datetime, str, str]] = {}
    for entity, access in hits:
        for name, event in access.actions.items():
            if name not in latest or event.when > latest[name][0]:
                latest[name] = (event.when, entity, event.region)
    return [
        {
            "ActionName": name,
            "LastAccessedTime": when,
            "LastAccessedEntity": entity,
            "LastAccessedRegion": region,
        }
        for name, (when, entity, region) in sorted(latest.items())
    ]


def _service_entries(backend: IAMBackend, arn: str, *, action_level: bool) -> list[dict[str, Any]]:
    documents, entities = report_subject(backend, arn)
    accesses = accesses_of(backend, entities)
    namespaces = granted_namespaces(documents) | {namespace for _, namespace, _ in accesses}
    entries = []
    for namespace in sorted(namespaces):
        entry: dict[str, Any] = {
            "ServiceName": SERVICE_NAMES.get(namespace, namespace),
            "ServiceNamespace": namespace,
            "TotalAuthenticatedEntities": 0,
        }
        hits = [(entity, access) for entity, ns, access in accesses if ns == namespace]
        if hits:
            last_entity, last = max(hits, key=lambda hit: hit[1].last.when)
            entry.update(
                {
                    "LastAuthenticated": last.last.when,
                    "LastAuthenticatedEntity": last_entity,
                    "LastAuthenticatedRegion": last.last.region,
                    "TotalAuthenticatedEntities": len({entity for entity, _ in hits}),
                }
            )
            tracked = _tracked_actions(hits) if action_level else []
            if tracked:
                entry["TrackedActionsLastAccessed"] = tracked
        entries.append(entry)
    return entries


def _generate_service_last_accessed_details(self: IamResponse) -> ActionResult:
    arn = self._get_param("Arn")
    granularity = self._get_param("Granularity") or "SERVICE_LEVEL"
    if granularity not in _GRANULARITIES:
        raise InvalidInput(f"Invalid Granularity: {granularity}")
    if not arn or not str(arn).startswith("arn:"):
        raise InvalidInput(f"ARN {arn} is not valid.")
    services = _service_entries(self.backend, arn, action_level=granularity == "ACTION_LEVEL")
    with _SETTINGS.lock:
        polls = _SETTINGS.polls
        error = _SETTINGS.failures.popleft() if _SETTINGS.failures else None
    now = utcnow()
    job = LastAccessedJob(
        job_id=str(mock_random.uuid4()),
        job_type=granularity,
        created=now,
        completed=now,
        services=[] if error else services,
        polls_left=polls,
        error=error,
    )
    with _JOBS_LOCK:
        _jobs(self.backend)[job.job_id] = job
    return ActionResult({"JobId": job.job_id})


def _get_service_last_accessed_details(self: IamResponse) -> ActionResult:
    job_id = self._get_param("JobId")
    with _JOBS_LOCK:
        job = _jobs(self.backend).get(job_id)
        if job is None:
            raise NotFoundException(f"No job found with id {job_id}.")
        in_progress = job.polls_left > 0
        if in_progress:
            job.polls_left -= 1
    result: dict[str, Any] = {
        "JobType": job.job_type,
        "JobCreationDate": job.created,
        "ServicesLastAccessed": [],
        "IsTruncated": False,
    }
    if in_progress:
        result["JobStatus"] = "IN_PROGRESS"
        return ActionResult(result)
    result["JobCompletionDate"] = job.completed
    if job.error is not None:
        result.update({"JobStatus": "FAILED", "Error": job.error})
        return ActionResult(result)
    items, marker = page(job.services, self._get_param("Marker"), self._get_int_param("MaxItems"))
    result.update({"JobStatus": "COMPLETED", "ServicesLastAccessed": items})
    result["IsTruncated"] = bool(marker)
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


# IamResponse method name -> implementation, for sandbox.extension.install().
IAM_ACTIONS: dict[str, Callable[[IamResponse], ActionResult]] = {
    "generate_service_last_accessed_details": _generate_service_last_accessed_details,
    "get_service_last_accessed_details": _get_service_last_accessed_details,
}
