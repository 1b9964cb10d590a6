"""A scan reads many resources' policies, one call each, ``reference_scan_concurrency`` at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from config.settings import get_settings
from tasks import side_by_side

T = TypeVar("T")
R = TypeVar("R")


def each(items: Iterable[T], read: Callable[[T], R]) -> list[R]:
    """``read(item)`` for every item, in order, on up to ``reference_scan_concurrency`` threads."""
    return side_by_side.each(items, read, get_settings().reference_scan_concurrency)
