"""The leave calendar file: entries validated one by one, so one bad entry skips only itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator

# IAM compares aws:CurrentTime at whole seconds: a shorter window may never match at all.
MIN_WINDOW = timedelta(seconds=1)


def window_problem(start: datetime, end: datetime) -> str | None:
    """What is wrong with a window from `start` to `end`, or None. The one rule for every
    time-bounded deny: `offboard deactivate`, the flow's parameters and the leave calendar."""
    if end <= start:
        return f"end {_stamp(end)} is not after start {_stamp(start)}"
    if end - start < MIN_WINDOW:
        return f"the window from {_stamp(start)} to {_stamp(end)} is shorter than one second"
    return None


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class LeaveEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str | None = None
    employee_id: str | None = None
    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> LeaveEntry:
        if not (self.user or self.employee_id):
            raise ValueError("names neither user nor employee_id")
        problem = window_problem(self.start, self.end)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def who(self) -> str:
        return self.user or f"employee {self.employee_id}"


class CalendarProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    entry: str
    problem: str


class CalendarError(ValueError):
    """The file as a whole cannot be read."""


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"]).removeprefix("Value error, ")


def load_calendar(path: Path) -> tuple[list[LeaveEntry], list[CalendarProblem]]:
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CalendarError(f"cannot read leave calendar {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CalendarError(f"leave calendar {path} is not valid YAML: {exc}") from None
    items = raw.get("leave") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise CalendarError(f"leave calendar {path} has no 'leave:' list")
    entries: list[LeaveEntry] = []
    problems: list[CalendarProblem] = []
    for index, item in enumerate(items):
        try:
            # YAML parses timestamps itself and drops nothing; naive ones fail AwareDatetime.
            entries.append(LeaveEntry.model_validate(item))
        except ValidationError as exc:
            problems.append(
                CalendarProblem(index=index, entry=repr(item), problem=_first_error(exc))
            )
    return entries, problems


def merge_windows(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping (or touching) windows become one."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
