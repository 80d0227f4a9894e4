"""The page's lint and type check (ESLint, and TypeScript's checker over the JSDoc-typed
JavaScript) really run: the page as it is passes both, a copy of it with one bug
injected fails the check that should catch it, and `make lint` runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.containers import require

WEB = Path(__file__).resolve().parents[2] / "web"
BIN = WEB / "node_modules" / ".bin"
CONFIGS = ("eslint.config.js", "tsconfig.json", "package.json")
CHECKS = {"eslint": ["eslint", "."], "tsc": ["tsc", "-p", "tsconfig.json"]}


def run_check(name: str, web: Path) -> subprocess.CompletedProcess[str]:
    require((BIN / name).exists(), f"{BIN / name} is missing: run `make install`")
    tool, *args = CHECKS[name]
    return subprocess.run(
        [str(BIN / tool), *args], cwd=web, capture_output=True, text=True, timeout=180
    )


def copy_of_web(into: Path) -> Path:
    """The page's sources and check configurations, with the installed packages linked."""
    web = into / "web"
    shutil.copytree(WEB / "src", web / "src")
    for name in CONFIGS:
        shutil.copy(WEB / name, web / name)
    os.symlink(WEB / "node_modules", web / "node_modules")
    return web


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_page_passes_its_checks(check: str) -> None:
    """ESLint and tsc both pass on web/ as it is."""
    result = run_check(check, WEB)
    assert result.returncode == 0, result.stdout + result.stderr


BUGS = [
    # (check, file, text there, replacement, what the check's report names)
    ("eslint", "format.js", "if (s < 60)", "if (s == 60)", "eqeqeq"),
    ("eslint", "format.js", "const s = Math.max", "let s = Math.max", "prefer-const"),
    ("eslint", "format.js", "return `${s} s`;", "return `${s} ${unit}`;", "no-undef"),
    ("eslint", "format.js", "function ago(seconds)", "function ago(seconds, at)", "no-unused-vars"),
    ("tsc", "container-list.js", "ago(now - Number(at))", "ago(`${now - Number(at)}`)", "TS2345"),
    ("tsc", "terminal-view.js", "this.term.focus();", "this.term.focusTerminal();", "TS2339"),
    ("tsc", "toolbar.js", "{ type: 'button', title,", "{ type: 'button', titel: title,", "TS2561"),
]


@pytest.mark.parametrize(("check", "file", "text", "bug", "named"), BUGS)
def test_an_injected_bug_fails_its_check(
    tmp_path: Path, check: str, file: str, text: str, bug: str, named: str
) -> None:
    """A copy of the page with one bug in it (loose equality, let for a constant, an
    undefined name, an unused argument, a wrong argument type, a misspelled xterm.js
    method, a misspelled element property) fails ESLint or tsc, which names it."""
    web = copy_of_web(tmp_path)
    source = web / "src" / file
    code = source.read_text()
    assert code.count(text) == 1, f"{file} no longer has {text!r}: update this test"
    source.write_text(code.replace(text, bug))
    result = run_check(check, web)
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    assert named in report and file in report, report


def test_make_lint_runs_the_page_checks() -> None:
    """`make lint` (and so `make test`) runs ESLint and tsc on the page."""
    plan = subprocess.run(
        ["make", "--dry-run", "lint"], cwd=WEB.parent, capture_output=True, text=True, timeout=60
    )
    assert plan.returncode == 0, plan.stderr
    assert "node_modules/.bin/eslint ." in plan.stdout
    assert "node_modules/.bin/tsc -p tsconfig.json" in plan.stdout
