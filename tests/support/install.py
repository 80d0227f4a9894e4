"""dterm installed from its wheel as an operator installs it, offline.

The wheel and the source archive are built from this checkout with `python -m build`
(the wheel from the archive, so both must be complete), then the wheel alone is
installed with pip into a new virtual environment at ROOT/opt/dterm, where the
systemd units expect it. Its dependencies are the ones already installed for the
tests, reached through a .pth file placed after the environment's own packages, so
nothing is downloaded and nothing of the checkout is importable there.

When it can, the environment is made with an interpreter that users other than
root may run (the tests start the front end as a service's throwaway user).

Blocking: builds and installs take seconds; call from fixtures, not from a loop.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import REPO

NOBODY = 65534


@dataclass(frozen=True)
class Installed:
    root: Path
    """A file-system root holding the installation at opt/dterm."""
    wheel: Path
    python: Path
    dterm: Path
    for_everyone: bool
    """Users other than root may run it."""

    def site_packages(self) -> Path:
        found = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, timeout=30, cwd="/",
        )  # fmt: skip
        return Path(found.stdout.strip())


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return next(out.glob("dterm-*.whl"))


def runs_for_everyone(python: str) -> bool:
    """Whether a user without privileges can start this interpreter, at our version."""
    try:
        found = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, user=NOBODY, group=NOBODY, extra_groups=[],
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return found.returncode == 0 and found.stdout.strip() == str(sys.version_info[:2])


def interpreter() -> tuple[str, bool]:
    """An interpreter of our version for the new environment, preferring one that
    everyone may run; and whether everyone may."""
    ours = getattr(sys, "_base_executable", sys.executable)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (ours, shutil.which(version), f"/usr/bin/{version}"):
        if candidate and Path(candidate).exists() and runs_for_everyone(candidate):
            return candidate, True
    return ours, False


def install(root: Path) -> Installed:
    """Build the wheel and install it at root/opt/dterm."""
    wheel = build_wheel(root / "dist")
    python, for_everyone = interpreter()
    prefix = root / "opt" / "dterm"
    subprocess.run([python, "-m", "venv", "--without-pip", str(prefix)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    new_python = prefix / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(new_python), "install", "--no-index",
         "--no-deps", "--no-compile", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    installed = Installed(root, wheel, new_python, prefix / "bin" / "dterm", for_everyone)
    dependencies = Path(sysconfig.get_paths()["purelib"])
    (installed.site_packages() / "zz-test-dependencies.pth").write_text(f"{dependencies}\n")
    return installed
