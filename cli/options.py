"""Options shared by many commands, declared once: output format and the AWS profile/region."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError

from cli.errors import fail


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        show_default=False,
        help="table (the default) or json, as the aws CLI's --output; --json is the same as "
        "--output json.",
    ),
]


def wants_json(output: OutputFormat | None, as_json: bool) -> bool:
    """--json and --output json are one choice; asking for both json and table is not."""
    if as_json and output is OutputFormat.table:
        raise fail("--json and --output table contradict each other: choose one", 2)
    return as_json or output is OutputFormat.json


# Applied while the command line is parsed, before the command's body makes any AWS call.
def _use_aws(ctx: typer.Context, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    from tasks.aws import use_aws_session

    if not value.strip():
        raise fail(f"--{name} must not be empty", 2)
    chosen = ctx.meta.setdefault("offboard_aws", {})
    chosen[name] = value
    try:
        use_aws_session(profile=chosen.get("profile"), region=chosen.get("region"))
    except BotoCoreError as exc:
        raise fail(f"--{name} {value}: {exc}", 2) from None
    return value


def _use_profile(ctx: typer.Context, value: str | None) -> str | None:
    return _use_aws(ctx, "profile", value)


def _use_region(ctx: typer.Context, value: str | None) -> str | None:
    return _use_aws(ctx, "region", value)


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        show_default=False,
        callback=_use_profile,
        help="AWS named profile from ~/.aws/config (default: the standard credential chain, "
        "e.g. AWS_PROFILE).",
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        metavar="REGION",
        show_default=False,
        callback=_use_region,
        help="AWS region for regional calls such as STS (default: the profile's or "
        "AWS_REGION; IAM itself is global).",
    ),
]

OverrideOption = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        metavar="GUARD",
        show_default=False,
        help="Go ahead although this guard holds the user (repeatable; needs --reason; "
        "audited). Guards: activity, kms-sole-admin.",
    ),
]
