"""axe-core in the page under test: injected by Playwright from the npm package in
web/node_modules (a devDependency of the page, never served by the front end and
never copied into the repository), run on what the page shows now."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.support.containers import require
from tests.support.processes import REPO

AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"

# Violations of these impacts fail a test; moderate and minor ones are reported.
BLOCKING = ("serious", "critical")

RUN = """async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
}"""


def use_axe(page: Page) -> None:
    """Make axe-core available in every document the page loads from now on (an init
    script runs before the page's own, outside its Content Security Policy)."""
    require(AXE.exists(), f"axe-core is missing: run make install ({AXE})")
    page.add_init_script(path=str(AXE))


def violations(page: Page) -> list[dict[str, Any]]:
    """Every violation axe-core finds in the page as shown now."""
    found: list[dict[str, Any]] = page.evaluate(RUN)
    return found


def describe(found: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']} {v['id']}: {v['help']}\n"
        + "\n".join(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
        for v in found
    )


def assert_accessible(page: Page, screen: str) -> list[dict[str, Any]]:
    """No serious or critical violation on this screen; returns the lesser ones."""
    found = violations(page)
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, f"{screen}: axe-core finds\n{describe(blocking)}"
    return found
