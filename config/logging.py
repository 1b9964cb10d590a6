"""One place that configures structlog for the engine (debug log, not the audit trail)."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from config.settings import get_settings

# Keys whose values are secrets: never written to any log.
SECRET_KEYS = frozenset(
    {
        "secretaccesskey",
        "secret_access_key",
        "password",
        "servicepassword",
        "service_password",
        "servicecredentialsecret",
        "service_credential_secret",
        "aws_secret_access_key",
        "sessiontoken",
        "session_token",
    }
)
REDACTED = "***"


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace secret values anywhere in the event, nested dicts and lists included."""
    return {key: _redact(key, value) for key, value in event_dict.items()}


def _redact(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS:
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact("", v) for v in value]
    return value


def configure_logging(*, json: bool | None = None, level: str | None = None) -> None:
    settings = get_settings()
    use_json = json if json is not None else settings.log_json
    if use_json is None:
        use_json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[(level or settings.log_level).upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
