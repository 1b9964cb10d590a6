"""The leave calendar file: entries validated one by one, so one bad entry skips only itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

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


# Fields are bounded so that a valid entry, too, can be named in one short line.
IamUserName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")]
EmployeeId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class LeaveEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: IamUserName | None = None
    employee_id: EmployeeId | None = None
    start: AwareDatetime
    end: AwareDatetime
    reason: Annotated[str, Field(max_length=500)] | None = None

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
    # Where the entry is and whom it names (shortened), never the entry itself.
    entry: str
    problem: str


class CalendarError(ValueError):
    """The file as a whole cannot be read."""


# Deeper than a calendar ever needs; bounds the composer's recursion.
MAX_DEPTH = 16


class CalendarLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases, nested at most MAX_DEPTH levels.

    An alias repeats a node without copying it, so a few hundred bytes of nested aliases stand
    for billions of values ("billion laughs"): anything that walks or prints them runs out of
    memory. A calendar has no use for them. A date YAML cannot construct (month 13) stays text,
    so that the entry's own check rejects that entry alone."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_lenient_timestamp(self, node: yaml.ScalarNode) -> object:
        try:
            return self.construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


CalendarLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", CalendarLoader.construct_lenient_timestamp
)


def shorten(text: str, limit: int = 80) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _label(index: int, item: object) -> str:
    """`leave[3]`, and whom it names when it names someone."""
    label = f"leave[{index}]"
    if isinstance(item, dict):
        for field in ("user", "employee_id"):
            value = item.get(field)
            if isinstance(value, str | int) and str(value):
                return f"{label} ({field} {shorten(str(value), 64)})"
    return label


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = shorten(".".join(str(part) for part in error["loc"]), 60)
    message = shorten(str(error["msg"]).removeprefix("Value error, "), 160)
    return f"{where}: {message}" if where else message


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{where}: {shorten(str(exc.problem or exc.context), 160)}"
    return f": {shorten(str(exc), 160)}"


def read_calendar_text(path: Path, max_bytes: int) -> str:
    """The file's text, refused unread beyond `max_bytes` (the leave_calendar_max_bytes setting)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise CalendarError(f"cannot read leave calendar {path}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise CalendarError(
            f"leave calendar {path} is larger than {max_bytes} bytes "
            "(OFFBOARD_LEAVE_CALENDAR_MAX_BYTES)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CalendarError(f"leave calendar {path} is not UTF-8 text (byte {exc.start})") from None


def load_calendar(
    path: Path, max_bytes: int = 1024 * 1024
) -> tuple[list[LeaveEntry], list[CalendarProblem]]:
    text = read_calendar_text(path, max_bytes)
    try:
        raw: Any = yaml.load(text, Loader=CalendarLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CalendarError(
            f"leave calendar {path} is not valid YAML{_yaml_problem(exc)}"
        ) from None
    items = raw.get("leave") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise CalendarError(f"leave calendar {path} has no 'leave:' list")
    entries: list[LeaveEntry] = []
    problems: list[CalendarProblem] = []
    for index, item in enumerate(items):
        try:
            # Timestamps YAML parsed itself keep their zone; naive ones fail AwareDatetime.
            entries.append(LeaveEntry.model_validate(item))
        except ValidationError as exc:
            problems.append(
                CalendarProblem(index=index, entry=_label(index, item), problem=_first_error(exc))
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
