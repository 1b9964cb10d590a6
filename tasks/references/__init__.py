"""Resource policies that name an IAM principal: reading them, guarding KMS keys, cleaning them."""

from __future__ import annotations

# The engine policy reads PERMISSIONS per top-level tasks module, and the least-privilege proof
# requires a flow to call every action in it: the readers' actions join here once a flow scans.
PERMISSIONS: tuple[str, ...] = ()
