"""A finished batch as markdown: the run's artifact in Prefect's UI."""

from __future__ import annotations

from flows.batch_models import BatchReport


def summary_markdown(report: BatchReport) -> str:
    lines = [
        f"# Offboarding batch: {report.selection.describe()}",
        "",
        "- " + ", ".join(f"{name} {count}" for name, count in report.totals.items()),
        "",
        "| account | user | outcome | failure |",
        "|---|---|---|---|",
    ]
    for item in report.users:
        failure = item.report.failure
        where = f"{failure.step}: {failure.error_code}" if failure else ""
        lines.append(
            f"| {item.account_id} | {item.report.user_name} | {item.report.outcome} | {where} |"
        )
    lines += [
        f"| {s.account_id or '-'} | {s.user_name} | skipped: {s.reason} | {s.message} |"
        for s in report.skipped
    ]
    return "\n".join(lines) + "\n"
