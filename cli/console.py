"""The console every table is printed on.

Ids, ARNs and dates are what people copy from a table into the next command, so no column
cuts them: a terminal wraps them (columns fold), and output that is not a terminal (a pipe, a
file, a ticket) gets lines as long as their content instead of 80 columns.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleDimensions
from rich.table import Table

# Wide enough for any row the engine prints; a table is only as wide as its content.
UNBOUNDED_WIDTH = 10_000


class PasteableConsole(Console):
    """A console whose width is the terminal's, or unbounded when the output is not one."""

    @property
    def size(self) -> ConsoleDimensions:
        measured = super().size
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(UNBOUNDED_WIDTH, measured.height)
        return measured

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def table(
    title: str | None = None, columns: Iterable[str] = (), numbers: Iterable[str] = ()
) -> Table:
    """A table whose cells wrap instead of being cut with an ellipsis; ``numbers`` are
    right-aligned columns after ``columns``."""
    # At least as wide as the title, which names the user's ARN: a title wraps to the table.
    made = Table(title=title, title_justify="left", min_width=len(title) if title else None)
    for column in columns:
        made.add_column(column, overflow="fold")
    for column in numbers:
        made.add_column(column, justify="right", overflow="fold")
    return made


# Made once; it looks at the current sys.stdout each time it prints.
console = PasteableConsole()
