"""Check that the environment holds exactly the packages of requirements.lock, consistently.

Run with the environment's Python (``make check-lock``; also part of ``make test`` and CI):
``pip check`` must pass, and ``pip freeze`` must list the lock's packages at the lock's versions,
with nothing missing and nothing extra (pip itself and the editable meetsep aside). Exits 1 with
one line per difference otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def no_deps(lines: list[str]) -> set[str]:
    """Packages the lock marks as installed with ``--no-deps`` (their missing dependencies are intended)."""
    return {normalize(line.split("==", 1)[0]) for line in lines if line.rstrip().endswith("# no-deps")}


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[normalize(name)] = version.strip()
    return found


def main() -> int:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    problems = []
    lock_lines = LOCK.read_text().splitlines()
    exempt = no_deps(lock_lines)
    check = subprocess.run([*pip, "check"], capture_output=True, text=True)
    for line in check.stdout.splitlines():
        # "<name> <version> requires <dependency>, ..." / "<name> <version> has requirement ..."
        if (
            line.strip()
            and line.split()[0]
            and normalize(line.split()[0]) not in exempt
            and not line.startswith("No broken")
        ):
            problems.append(f"pip check: {line}")
    freeze = subprocess.run([*pip, "freeze", "--all", "--exclude-editable"], capture_output=True, text=True, check=True)
    installed = {name: version for name, version in pins(freeze.stdout.splitlines()).items() if name != "pip"}
    locked = pins(lock_lines)
    for name in sorted(installed.keys() - locked.keys()):
        problems.append(f"installed but not in the lock: {name}=={installed[name]}")
    for name in sorted(locked.keys() - installed.keys()):
        problems.append(f"in the lock but not installed: {name}=={locked[name]}")
    for name in sorted(installed.keys() & locked.keys()):
        if installed[name] != locked[name]:
            problems.append(f"{name}: installed {installed[name]}, locked {locked[name]}")
    for problem in problems:
        print(f"check-lock: {problem}", file=sys.stderr)
    if problems:
        print(
            "check-lock: the environment does not match requirements.lock (run `make lock` after changing pyproject.toml)",
            file=sys.stderr,
        )
        return 1
    print(f"check-lock: {len(installed)} packages match requirements.lock; pip check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
