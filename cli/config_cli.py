"""``offboard config show``: every effective setting and the source that set it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_settings import BaseSettings
from rich.text import Text

from cli.console import console, table
from cli.errors import JsonOption, cli_errors
from cli.options import OutputOption, wants_json
from config.settings import ENV_PREFIX, HOME_FILES, get_settings, setting_sources

config_app = typer.Typer(help="The engine's settings.", no_args_is_help=True)

# Names whose values are never printed, whatever their type.
SECRET_WORDS = ("secret", "password", "token", "hmac", "private", "signing", "credential")
MASK = "********"


class ShownSetting(BaseModel):
    name: str
    variable: str
    value: Any
    source: str


def is_secret(name: str, value: Any) -> bool:
    if isinstance(value, SecretStr | SecretBytes):
        return True
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS) or (
        lowered.endswith("key") and "tag" not in lowered
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _shown(name: str, value: Any, source: str) -> ShownSetting:
    if value is not None and is_secret(name, value):
        value = MASK
    return ShownSetting(
        name=name, variable=f"{ENV_PREFIX}{name.upper()}", value=_plain(value), source=source
    )


def _section(
    settings_cls: type[BaseSettings], effective: BaseSettings | None
) -> list[ShownSetting]:
    sources = setting_sources(settings_cls)
    shown = []
    for name, field in settings_cls.model_fields.items():
        source, raw = sources[name]
        if source == "default" and name in HOME_FILES:
            source = "default (under OFFBOARD_HOME)"
        if effective is not None:
            value = getattr(effective, name)
        elif source != "default":
            value = raw
        else:
            value = None if field.is_required() else field.get_default(call_default_factory=True)
        shown.append(_shown(name, value, source))
    return shown


def _webhook_settings() -> list[ShownSetting]:
    """The webhook receiver's own settings; shown even when they are incomplete (the CLI does
    not need the webhook secret)."""
    from deploy.webhook import WebhookSettings

    try:
        effective: BaseSettings | None = WebhookSettings()  # type: ignore[call-arg]
    except ValidationError:
        effective = None
    return _section(WebhookSettings, effective)


def all_settings() -> list[ShownSetting]:
    engine = _section(type(get_settings()), get_settings())
    known = {item.name for item in engine}
    return engine + [item for item in _webhook_settings() if item.name not in known]


def _text(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, str):
        return value
    return json.dumps(value)


@config_app.command("show")
@cli_errors
def show(as_json: JsonOption = False, output: OutputOption = None) -> None:
    """Print every effective setting and where it came from: the environment, a .env file in
    the working directory, the config file under OFFBOARD_HOME, or the default.

    Secrets are masked. Priority, highest first: environment, .env, config file, default.
    """
    as_json = wants_json(output, as_json)
    shown = all_settings()
    if as_json:
        typer.echo(json.dumps([item.model_dump() for item in shown], indent=2))
        return
    made = table(columns=("variable", "value", "source"))
    for item in shown:
        # Text cells: values are not rich markup.
        made.add_row(Text(item.variable), Text(_text(item.value)), Text(item.source))
    console.print(made)
