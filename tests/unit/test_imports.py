"""Who may import whom: the layout the README describes, kept by a test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("shared", "exec_worker", "frontend_server", "dterm_cli")


def imported(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".", 1)[0]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("shared", {"exec_worker", "frontend_server", "dterm_cli", "tests"}),
        ("exec_worker", {"frontend_server", "dterm_cli", "tests"}),
        ("frontend_server", {"exec_worker", "dterm_cli", "tests", "docker"}),
    ],
)
def test_packages_import_nothing_above_or_beside_them(package: str, forbidden: set[str]) -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(package)
        for name in imported(path)
        if top(name) in forbidden
    }
    assert not wrong


def test_only_docker_exec_talks_to_docker_in_the_worker() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in modules("exec_worker")
        if any(top(name) == "docker" for name in imported(path))
    }
    assert users == {"exec_worker/docker_exec.py"}


def test_test_modules_share_helpers_through_tests_support_only() -> None:
    """A test module imported by another runs its module-level code twice and ties
    the two together; conftest files are pytest's, not a library."""
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules("tests")
        for name in imported(path)
        if (top(name) == "tests" and not name.startswith("tests.support"))
        or name.rsplit(".", 1)[-1] == "conftest"
    }
    assert not wrong
