"""Engine settings: environment variables prefixed ``OFFBOARD_`` override a ``.env`` file in the
working directory, which overrides ``HOME/config.toml``, which overrides the defaults.

Every file the engine keeps (audit trail, snapshots, webhook events, the local Prefect server)
lives under one home, ``OFFBOARD_HOME``, so the CLI finds the same state from any folder.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

ENV_PREFIX = "OFFBOARD_"


class SettingsError(ValueError):
    """A setting has a value the engine cannot use; the message names the variable."""


def default_home() -> Path:
    """The user's state directory (XDG), e.g. ``~/.local/state/offboard``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "offboard"


# Files under the home unless a setting names them explicitly.
HOME_FILES = {
    "audit_log": "audit.jsonl",
    "snapshot_store": "snapshots",
    "leave_calendar": "leave.yaml",
}


# The resource policies the reference scan reads, by the name settings and the scan use.
REFERENCE_SERVICES = (
    "iam",
    "s3",
    "kms",
    "kms-grants",
    "sqs",
    "sns",
    "secretsmanager",
    "lambda",
    "ecr",
)
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


def check_reference_services(names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name not in REFERENCE_SERVICES:
            raise ValueError(
                f"unknown reference service {name!r} (known: {', '.join(REFERENCE_SERVICES)})"
            )
    return names


def check_regions(names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if not REGION_PATTERN.match(name):
            raise ValueError(f"not a region name: {name!r} (e.g. eu-west-1)")
    return names


class AccountSetting(BaseModel):
    """An account the engine offboards in, through a role it assumes there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9]{12}$")
    # None: the account_role_name setting.
    role_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # The one folder for the engine's state; created on first use.
    home: Path = Field(default_factory=default_home)

    # Retries of transient IAM errors are declared on each task; these size them.
    step_retries: int = Field(default=4, ge=0, le=20)
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    retry_jitter_factor: float = Field(default=0.5, ge=0, le=1)
    # How often the flow re-inventories and repeats the steps when DeleteUser still conflicts.
    max_delete_rounds: int = Field(default=2, ge=1, le=10)
    # botocore's own retry layer stays on underneath the task retries.
    botocore_retry_mode: Literal["standard", "adaptive"] = "standard"
    botocore_max_attempts: int = Field(default=3, ge=1, le=10)
    # Append-only, hash-chained audit trail (JSON lines); default HOME/audit.jsonl.
    audit_log: Path
    # Where snapshots go: a local directory, or s3://bucket/prefix; default HOME/snapshots.
    snapshot_store: str
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
    # IAM Identity Center: the instance (None: the first one ListInstances answers), and the
    # enterprise attribute (aws:identitystore:enterprise) holding HR's employee id.
    identity_center_instance_arn: str | None = None
    identity_center_employee_attribute: str = "employeeNumber"
    # Identity Center users never offboarded: by user name, by a group they are in (display
    # name), or by an attribute (ATTRIBUTE=VALUE, e.g. UserType=break-glass; any case).
    protected_identity_center_users: tuple[str, ...] = ()
    protected_identity_center_groups: tuple[str, ...] = ()
    protected_identity_center_attribute: str = "UserType=break-glass"
    # Asynchronous Identity Center requests (assignment deletion, provisioning): how often their
    # status is asked and for how long before the step fails (and is retried).
    identity_center_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    identity_center_poll_timeout_seconds: float = Field(default=120, gt=0, le=3600)
    # The leave calendar `offboard leave sync` reads by default; default HOME/leave.yaml.
    leave_calendar: Path
    # Batches: users offboarded at once, and one IAM call rate (calls per second) that every
    # IAM call of a batch shares; 0 means unlimited. IAM throttles per account, and other tools
    # in the account draw on the same allowance.
    batch_concurrency: int = Field(default=8, ge=1, le=64)
    iam_calls_per_second: float = Field(default=20, ge=0)
    # Blast-radius cap: a batch of more users needs --allow-large-batch N with N >= its size.
    max_users_per_batch: int = Field(default=25, ge=1)
    # Other accounts: listed here (JSON list of {"id", "role_name"}), or, when none are listed
    # and discover_accounts is on, every ACTIVE account Organizations lists; either way
    # narrowed by the include and exclude lists of account ids.
    accounts: tuple[AccountSetting, ...] = ()
    discover_accounts: bool = False
    account_include: tuple[str, ...] = ()
    account_exclude: tuple[str, ...] = ()
    # The role assumed in an account that names none.
    account_role_name: str = Field(
        default="OrganizationAccountAccessRole", pattern=r"^[\w+=,.@-]{1,64}$"
    )
    assume_role_duration_seconds: int = Field(default=3600, ge=900, le=43200)
    log_level: str = "INFO"
    # None: JSON when stderr is not a terminal, console rendering when it is.
    log_json: bool | None = None
    # The leave calendar is read whole into memory: a larger file is refused, not parsed.
    leave_calendar_max_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)

    # The reference scan (resource policies naming a user): the regions it reads (empty: every
    # region EC2 DescribeRegions lists as enabled), the services (empty: all of
    # REFERENCE_SERVICES), and how many reads run at once: that many (region, service) listings,
    # each reading that many resources' policies at a time.
    reference_regions: tuple[str, ...] = ()
    reference_services: tuple[str, ...] = ()
    reference_scan_concurrency: int = Field(default=8, ge=1, le=16)

    # Audit checkpoints: the Ed25519 key that signs them; default HOME/audit-signing-key.pem,
    # created on first use (mode 0600).
    audit_signing_key_file: Path | None = None

    @field_validator("reference_services")
    @classmethod
    def _known_reference_services(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_reference_services(names)

    @field_validator("reference_regions")
    @classmethod
    def _region_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_regions(names)

    @model_validator(mode="before")
    @classmethod
    def _files_under_home(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        home = Path(data.get("home") or default_home()).expanduser()
        data = {**data, "home": home}
        for name, file in HOME_FILES.items():
            if not data.get(name):
                data[name] = str(home / file)
        return data

    # --- Where settings come from: environment > .env > HOME/config.toml > defaults ---
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        dotenv = DotEnvSettingsSource(settings_cls, env_file=env_file())
        # The config file lives under the home, so the home itself comes from the layers above.
        given = (source().get("home") for source in (init_settings, env_settings, dotenv))
        home = next((Path(str(value)).expanduser() for value in given if value), default_home())
        return init_settings, env_settings, dotenv, config_file_source(settings_cls, home)


def describe_settings_error(exc: ValidationError, prefix: str = ENV_PREFIX) -> str:
    """One line naming the variable and what is wrong with it."""
    error = exc.errors(include_url=False)[0]
    location = error.get("loc") or ()
    name = f"{prefix}{str(location[0]).upper()}" if location else "settings"
    value = error.get("input")
    # Values are echoed (shortened) to help, except anything that may be a secret.
    secret = any(word in name for word in ("SECRET", "KEY", "PASSWORD", "TOKEN"))
    plain = not (secret or isinstance(value, dict) or value is None)
    shown = f" (got {str(value)[:60]!r})" if plain else ""
    return f"{name}: {error['msg']}{shown}; fix or unset it"


def describe_source_error(exc: SourceError, prefix: str = ENV_PREFIX) -> str:
    """pydantic-settings could not decode a value (lists and objects are JSON)."""
    field = re.search(r'field "([^"]+)"', str(exc))
    name = f"{prefix}{field.group(1).upper()}" if field else "a setting"
    return f'{name}: not valid JSON (lists are JSON, e.g. ["a", "b"]); fix or unset it'


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]  # file settings are filled in from the home
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None
    except SourceError as exc:
        raise SettingsError(describe_source_error(exc)) from None


# --- Setting sources: the .env file, the home's config file, and which source set what ---
# The .env file read from the working directory; an empty value reads none.
ENV_FILE_VARIABLE = f"{ENV_PREFIX}ENV_FILE"
CONFIG_FILE_NAME = "config.toml"


def env_file() -> Path | None:
    name = os.environ.get(ENV_FILE_VARIABLE, ".env")
    return Path(name) if name else None


class ConfigFileSource(TomlConfigSettingsSource):
    """HOME/config.toml: settings by their field names (``recent_activity_days = 14``).

    A setting the engine does not know is an error rather than silently ignored, as a typo
    in a protection list must not go unnoticed."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        try:
            super().__init__(settings_cls, toml_file=path)
        except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
            raise SettingsError(f"{path}: {exc}; fix or remove it") from None
        unknown = sorted(set(self.toml_data) - set(settings_cls.model_fields))
        if unknown:
            raise SettingsError(
                f"{path}: unknown setting {unknown[0]!r} (settings are named as in "
                "'offboard config show', without the OFFBOARD_ prefix)"
            )


def config_file_source(settings_cls: type[BaseSettings], home: Path) -> ConfigFileSource:
    return ConfigFileSource(settings_cls, home / CONFIG_FILE_NAME)


def describe_source(source: PydanticBaseSettingsSource) -> str:
    """A source as operators name it: environment, .env, config file, ..."""
    if isinstance(source, TomlConfigSettingsSource):
        return f"config file {source.toml_file_path}"
    if isinstance(source, DotEnvSettingsSource):
        return f".env file {source.env_file}"
    if isinstance(source, EnvSettingsSource):
        return "environment"
    if isinstance(source, SecretsSettingsSource):
        return "secrets directory"
    return "argument"


def setting_sources(settings_cls: type[BaseSettings]) -> dict[str, tuple[str, Any]]:
    """Which source set each field of ``settings_cls`` (as its own sources are layered) and
    the value it gave; fields no source sets are ("default", None)."""
    layers = settings_cls.settings_customise_sources(
        settings_cls,
        InitSettingsSource(settings_cls, {}),
        EnvSettingsSource(settings_cls),
        DotEnvSettingsSource(settings_cls),
        SecretsSettingsSource(settings_cls),
    )
    try:
        found = [(describe_source(layer), layer()) for layer in layers]
    except SourceError as exc:
        raise SettingsError(describe_source_error(exc)) from None
    return {
        name: next(
            ((label, values[name]) for label, values in found if name in values),
            ("default", None),
        )
        for name in settings_cls.model_fields
    }
