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


def ensure_logging() -> None:
    """Configure once for code paths (flows run by workers) that no CLI set up."""
    if not structlog.is_configured():
        configure_logging()


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at emit time (test runners and CLIs swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def configure_logging(*, json: bool | None = None, level: str | None = None) -> None:
    """structlog renders each event; the stdlib logger ``offboard`` carries it to stderr, so
    Prefect (``PREFECT_LOGGING_EXTRA_LOGGERS=offboard``) can forward it to the run's logs."""
    settings = get_settings()
    use_json = json if json is not None else settings.log_json
    if use_json is None:
        use_json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric_level = logging.getLevelNamesMapping()[(level or settings.log_level).upper()]
    root = logging.getLogger("offboard")
    root.setLevel(numeric_level)
    root.propagate = False
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
