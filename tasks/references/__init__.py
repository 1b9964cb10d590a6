"""Resource policies that name an IAM principal: reading them, guarding KMS keys, cleaning them."""

from __future__ import annotations

# Pure document logic only so far; reader modules declare their own read-only actions.
PERMISSIONS: tuple[str, ...] = ()
