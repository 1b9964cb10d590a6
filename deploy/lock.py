"""Write deploy/constraints.txt: the exact versions of the engine's runtime dependencies.

The container image installs with these pins, so what runs in production is what was tested
here. The list is the dependency tree of the installed ``offboard`` package (without its ``dev``
extra), read from the environment's own metadata (what ``pip freeze`` reports, narrowed to that
tree)::

    .venv/bin/python -m deploy.lock > deploy/constraints.txt
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "offboard"
HEADER = """\
# Exact versions of offboard's runtime dependencies, installed by deploy/Dockerfile.
# Generated from a tested environment; regenerate after upgrading it:
#   .venv/bin/python -m deploy.lock > deploy/constraints.txt
"""


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def runtime_tree(root: str = ROOT) -> dict[str, str]:
    """Installed name -> version for every package ``root`` needs at run time (root excluded)."""
    wanted: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    extras_seen: dict[str, frozenset[str]] = {}
    versions: dict[str, str] = {}
    while wanted:
        name, extras = wanted.pop()
        key = canonicalize_name(name)
        if key in extras_seen and extras <= extras_seen[key]:
            continue
        extras_seen[key] = extras_seen.get(key, frozenset()) | extras
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is required but not installed; install the project") from None
        if key != canonicalize_name(root):
            versions[dist.metadata["Name"]] = dist.version
        for text in dist.requires or ():
            requirement = Requirement(text)
            if _applies(requirement, extras_seen[key]):
                wanted.append((requirement.name, frozenset(requirement.extras)))
    return versions


def constraints_text(root: str = ROOT) -> str:
    pins = sorted(runtime_tree(root).items(), key=lambda item: canonicalize_name(item[0]))
    return HEADER + "".join(f"{canonicalize_name(name)}=={version}\n" for name, version in pins)


if __name__ == "__main__":
    sys.stdout.write(constraints_text())
