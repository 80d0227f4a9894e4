"""Rows of results, the markdown table, and the files under bench/results/.

Each metric returns rows; a row holds one value per round for each arm, and the
table shows min / median / max of those values, how the stack's median compares
with the floor's, the target and whether it is met. The JSON keeps every round's
values plus each metric's own raw details, so runs can be compared later.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import median

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One line of the table; `compare` is "diff" (stack - floor) or "ratio" (stack / floor)."""

    metric: str
    unit: str
    stack: list[float]
    floor: list[float] = field(default_factory=list)
    compare: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class MetricResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    others: list[str] = field(default_factory=list)
    """Other dterm, test or browser processes seen while this metric ran."""
    stolen: float = 0.0
    """Share of the machine's CPU time taken by the hypervisor while this metric ran."""


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return _number(values[0])
    return " / ".join(_number(v) for v in (min(values), median(values), max(values)))


def _versus(row: Row) -> str:
    if not row.stack or not row.floor:
        return ""
    stack, floor = median(row.stack), median(row.floor)
    if row.compare == "diff":
        return f"{stack - floor:+.{0 if abs(stack - floor) >= 100 else 1}f} {row.unit}"
    if row.compare == "ratio" and floor:
        return f"{stack / floor:.2f}x"
    return ""


def markdown(results: list[MetricResult], facts: dict[str, Any]) -> str:
    lines = [
        f"dterm bench, {facts['date']}: {facts['cpu']} ({facts['cores']} cores), "
        f"kernel {facts['kernel']}, Docker {facts['docker']}, Python {facts['python']}",
        "",
        "| metric | unit | stack min / med / max | floor min / med / max "
        "| stack vs floor (medians) | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        if result.error:
            lines.append(f"| {result.name} | | FAILED: {result.error} | | | | no |")
        for row in result.rows:
            met = "" if row.met is None else ("yes" if row.met else "**NO**")
            lines.append(
                f"| {row.metric} | {row.unit} | {_spread(row.stack)} | {_spread(row.floor)} "
                f"| {_versus(row)} | {row.target} | {met} |"
            )
    return "\n".join(lines) + "\n"


def targets(results: list[MetricResult]) -> list[tuple[str, bool]]:
    """(what, met) for every row with a target, and a failure for every failed metric."""
    found = [(f"{r.metric}: {r.target}", bool(r.met)) for m in results for r in m.rows if r.target]
    return found + [(f"{m.name}: ran to the end", False) for m in results if m.error]


def write(results: list[MetricResult], facts: dict[str, Any], table: str) -> Path:
    """Write latest.json and latest.md atomically (a .tmp file renamed into place)."""
    RESULTS.mkdir(exist_ok=True)
    document = {"facts": facts, "metrics": [asdict(r) for r in results]}
    for name, text in (
        ("latest.json", json.dumps(document, indent=1) + "\n"),
        ("latest.md", table),
    ):
        temporary = RESULTS / f"{name}.tmp"
        temporary.write_text(text)
        os.replace(temporary, RESULTS / name)
    return RESULTS / "latest.json"
