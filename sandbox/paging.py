"""Marker/MaxItems paging for the IAM listings the sandbox answers itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from moto.iam.exceptions import InvalidInput

__all__ = ["DEFAULT_MAX_ITEMS", "page"]

T = TypeVar("T")

DEFAULT_MAX_ITEMS = 100


def page(
    items: Sequence[T], marker: str | None, max_items: int | None
) -> tuple[list[T], str | None]:
    """Index-based paging with AWS's Marker/MaxItems/IsTruncated contract.

    Returns the page and the marker for the next one (None on the last page).
    """
    if marker:
        if not marker.isdigit():
            raise InvalidInput(f"Invalid Marker: {marker}")
        start = int(marker)
    else:
        start = 0
    limit = int(max_items) if max_items else DEFAULT_MAX_ITEMS
    if limit < 1:
        raise InvalidInput("MaxItems must be at least 1.")
    end = start + limit
    return list(items[start:end]), (str(end) if end < len(items) else None)
