"""``--help`` pages: an example for every command, flags shown as flags, prose that reflows.

Examples live here, by command, so that every command's page gets one and a test can check
that none is missing.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperOption

EXAMPLES: dict[str, tuple[str, ...]] = {
    "plan": (
        "offboard plan alice",
        "offboard plan alice --output json > alice-plan.json",
        "offboard plan --employee-id E-1001",
        "offboard plan --identity-center-user jane@example.com",
    ),
    "run": (
        'offboard run alice --reason "left the company" --ticket HR-1001',
        'offboard run --employee-id E-1001 --yes --reason "left the company"',
        "offboard run alice --yes --output json --profile prod",
        'offboard run alice --override-activity-guard --reason "manager confirmed"',
        'offboard run alice --override kms-sole-admin --reason "key retired in CHG-7"',
    ),
    "review": ("offboard review alice", "offboard review alice --output json"),
    "restore": (
        "offboard restore ~/.local/state/offboard/snapshots/123456789012/alice/snapshot.json",
        "offboard restore s3://bucket/snapshots/123456789012/alice/snapshot.json --new-name alice2",
    ),
    "users": (
        "offboard users",
        "offboard users --group contractors --output json",
        "offboard users --path-prefix /contractors/ --profile prod",
    ),
    "groups": ("offboard groups alice", "offboard groups alice --output json"),
    "policy": ("offboard policy > engine-policy.json",),
    "sandbox": ("offboard sandbox --seed-demo", "offboard sandbox --port 0"),
    "demo": ("offboard demo",),
    "audit verify": (
        "offboard audit verify --public-key audit-key.pub",
        "offboard audit verify /var/backups/audit.jsonl --expect-head HEAD_HASH",
    ),
    "audit public-key": ("offboard audit public-key > audit-key.pub",),
    "audit show": (
        "offboard audit show --user alice",
        "offboard audit show --run RUN_ID --output json",
    ),
    "deactivate": (
        'offboard deactivate alice --disable-keys --reason "suspected compromise"',
        "offboard deactivate alice --from 2026-12-24T00:00:00Z --until 2027-01-02T00:00:00Z",
    ),
    "reactivate": ('offboard reactivate alice --reason "back from leave"',),
    "leave sync": ("offboard leave sync", "offboard leave sync --calendar leave.yaml"),
    "batch": (
        "offboard batch --users-file leavers.txt --dry-run",
        'offboard batch --group contractors --yes --reason "contract ended"',
        "offboard batch --employee-id E-1001 --yes",
    ),
    "runs": ("offboard runs --state failed", "offboard runs --limit 50 --json"),
    "rerun": (
        "offboard rerun RUN_ID",
        'offboard rerun RUN_ID --override-activity-guard --reason "approved in CHG-42"',
        "offboard rerun RUN_ID --worker",
    ),
    "server start": ("offboard server start", "offboard server start --port 4300"),
    "server stop": ("offboard server stop",),
    "server status": ("offboard server status",),
    "webhook": ("OFFBOARD_WEBHOOK_SECRET=... offboard webhook --host 0.0.0.0 --port 8787",),
    "rename": (
        "offboard rename alice --new-name alice.smith --dry-run",
        'offboard rename alice --new-path /staff/ --yes --reason "moved team"',
    ),
    "config show": ("offboard config show", "offboard config show --output json"),
    "references scan": (
        "offboard references scan alice",
        "offboard references scan AIDAEXAMPLEUNIQUEID1 --output json",
    ),
    "references clean": (
        "offboard references clean alice --dry-run",
        'offboard references clean alice --yes --reason "offboarded in HR-1001"',
    ),
}


def epilog(command: str) -> str | None:
    """The examples as a Markdown block (the help is rendered as Markdown)."""
    lines = EXAMPLES.get(command)
    if not lines:
        return None
    return "**Examples**\n\n```\n" + "\n".join(lines) + "\n```"


def add_help(app: typer.Typer, prefix: str = "") -> None:
    """Examples on every command's page, and Markdown help (paragraphs reflow to the width,
    instead of keeping the docstring's line breaks mid-sentence), for ``app`` and its groups."""
    app.rich_markup_mode = "markdown"
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__ if info.callback else "")
        full = f"{prefix}{name.lower().replace('_', '-')}"
        info.epilog = info.epilog or epilog(full)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            add_help(group.typer_instance, f"{prefix}{group.name} ")


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    # A flag takes no value: show `--yes`, not `--yes <bool>`.
    if self.is_flag and self.metavar is None:
        return None
    return _typed_display(self, ctx)


_typed_display = TyperOption.display_type_rich
TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
