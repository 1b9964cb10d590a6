"""Engine settings: environment variables prefixed ``OFFBOARD_`` override the defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFBOARD_", frozen=True, extra="ignore")

    # Retries of transient IAM errors are declared on each task; these size them.
    step_retries: int = Field(default=4, ge=0, le=20)
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    retry_jitter_factor: float = Field(default=0.5, ge=0, le=1)
    # How often the flow re-inventories and repeats the steps when DeleteUser still conflicts.
    max_delete_rounds: int = Field(default=2, ge=1, le=10)
    # botocore's own retry layer stays on underneath the task retries.
    botocore_retry_mode: Literal["standard", "adaptive"] = "standard"
    botocore_max_attempts: int = Field(default=3, ge=1, le=10)
    # Append-only, hash-chained audit trail (JSON lines); relative paths are from the cwd.
    audit_log: Path = Path("var/audit.jsonl")
    # Where snapshots go: a local directory, or s3://bucket/prefix.
    snapshot_store: str = "var/snapshots"
    # The activity guard: a user active within this many days is not deleted.
    recent_activity_days: int = Field(default=7, ge=0, le=3650)
    # How long the access review waits for IAM's last-accessed job.
    review_timeout_seconds: float = Field(default=60, gt=0, le=3600)
    # Protected principals: never offboarded, deactivated or renamed.
    protected_user_names: tuple[str, ...] = ()
    protected_path_prefixes: tuple[str, ...] = ()
    protected_tag: str = "offboard:protected=true"
    # The user tag that maps HR's employee ids to IAM users.
    employee_tag_key: str = "employee_id"
    # The leave calendar `offboard leave sync` reads by default.
    leave_calendar: Path = Path("config/leave.example.yaml")
    log_level: str = "INFO"
    # None: JSON when stderr is not a terminal, console rendering when it is.
    log_json: bool | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
