"""The run's report as a Prefect markdown artifact, beside the run in the UI."""

from __future__ import annotations

import re

from prefect.artifacts import create_markdown_artifact

from flows.auditing import audit_head_markdown
from flows.report import OffboardingReport


def artifact_key(user_name: str) -> str:
    # Prefect artifact keys allow lowercase letters, digits and dashes only.
    return "offboard-" + re.sub(r"[^a-z0-9-]+", "-", user_name.lower()).strip("-")


def report_markdown(report: OffboardingReport) -> str:
    lines = [
        f"# Offboarding {report.user_name}: {report.outcome}",
        "",
        f"- run: `{report.run_id}`; actor: `{report.actor}`",
        f"- reason: {report.reason or '-'}; ticket: {report.ticket or '-'}",
    ]
    if report.review:
        review = report.review
        used = ", ".join(s.namespace for s in review.used_services) or "none"
        lines.append(
            f"- access review: {'complete' if review.complete else 'incomplete'}; "
            f"last activity {review.last_activity or 'never'}; services used: {used}"
        )
    if report.activity_guard_overridden:
        lines.append("- activity guard overridden (see reason)")
    if report.snapshot:
        lines.append(f"- snapshot: `{report.snapshot.location}` (sha256 {report.snapshot.sha256})")
    if report.failure:
        f = report.failure
        lines.append(f"- failure at **{f.step}**: {f.error_code} on {f.action}: {f.message}")
    if report.steps:
        lines += ["", "| step | removed | already absent | API calls |", "|---|---:|---:|---:|"]
        lines += [
            f"| {r.step} | {len(r.removed)} | {len(r.already_absent)} | {r.api_calls} |"
            for r in report.steps
        ]
    return "\n".join(lines) + "\n"


def publish_report(report: OffboardingReport) -> None:
    create_markdown_artifact(
        key=artifact_key(report.user_name),
        markdown=report_markdown(report) + audit_head_markdown(report.run_id),
        description=f"offboarding {report.user_name}: {report.outcome}",
    )
