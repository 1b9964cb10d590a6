"""The HR webhook receiver's settings (prefix ``OFFBOARD_``); any problem is one line.

The shared secret comes from ``OFFBOARD_WEBHOOK_SECRET`` or from the file named by
``OFFBOARD_WEBHOOK_SECRET_FILE`` (a Docker or Kubernetes secret), never both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings import get_settings
from tasks.errors import OffboardError

SECRET_MIN_LENGTH = 16
SECRET_VARIABLE = "OFFBOARD_WEBHOOK_SECRET"
SECRET_FILE_VARIABLE = "OFFBOARD_WEBHOOK_SECRET_FILE"
# A secret file is a line or two; anything larger is the wrong file.
SECRET_FILE_MAX_BYTES = 4096


class WebhookConfigError(OffboardError):
    """The receiver cannot start with these settings."""


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFBOARD_", frozen=True, extra="ignore")

    # Shared with the HR system; every request is signed with it.
    webhook_secret: SecretStr = Field(min_length=SECRET_MIN_LENGTH)
    # Or a file holding it (trailing newline ignored).
    webhook_secret_file: Path | None = None
    # Received events and their flow runs; default HOME/webhook.sqlite3.
    webhook_db: Path | None = None
    # How long a sender has to deliver the whole body once its headers are in; a connection
    # that stalls longer is answered 408 and closed, so stalled senders cannot pile up.
    webhook_body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _secret_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("webhook_secret_file"):
            return data
        if data.get("webhook_secret"):
            raise ValueError(f"set {SECRET_VARIABLE} or {SECRET_FILE_VARIABLE}, not both")
        path = Path(data["webhook_secret_file"])
        try:
            with path.open("rb") as file:
                raw = file.read(SECRET_FILE_MAX_BYTES + 1)
        except OSError as exc:
            raise ValueError(
                f"{SECRET_FILE_VARIABLE}: cannot read {path}: {exc.strerror}"
            ) from None
        if len(raw) > SECRET_FILE_MAX_BYTES:
            raise ValueError(
                f"{SECRET_FILE_VARIABLE}: {path} is over {SECRET_FILE_MAX_BYTES} bytes"
            )
        try:
            secret = raw.decode().rstrip("\r\n")
        except UnicodeDecodeError:
            raise ValueError(f"{SECRET_FILE_VARIABLE}: {path} is not UTF-8 text") from None
        return {**data, "webhook_secret": secret}

    def event_db(self) -> Path:
        return self.webhook_db or get_settings().home / "webhook.sqlite3"


def _describe(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    if not error["loc"]:
        # Raised by _secret_from_file, which names the variable itself.
        return str(error["msg"]).removeprefix("Value error, ")
    name = "OFFBOARD_" + str(error["loc"][0]).upper()
    if name == SECRET_VARIABLE and error["type"] == "missing":
        return (
            f"{SECRET_VARIABLE} is not set: the receiver needs the secret shared with "
            "the HR system to verify events"
        )
    if name == SECRET_VARIABLE and error["type"] in ("too_short", "string_too_short"):
        return f"{SECRET_VARIABLE} is shorter than {SECRET_MIN_LENGTH} characters"
    # The value is not echoed: it may be the secret.
    return f"{name}: {error['msg']}"


def load_settings() -> WebhookSettings:
    """WebhookSettings from the environment; a missing or short secret raises one line."""
    try:
        return WebhookSettings()  # type: ignore[call-arg]  # the secret comes from the environment
    except ValidationError as exc:
        raise WebhookConfigError(_describe(exc)) from None
