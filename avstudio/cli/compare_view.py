"""Printing ``compare_table`` output as a side-by-side table (Rich on a terminal, plain otherwise)."""

from __future__ import annotations

from typing import Any

import click

from avstudio.cli.common import interactive
from avstudio.evaluate.compare import BASELINE_PREFIXES
from avstudio.humanize import number


def compare_rows(table: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """``[(row label, [cell per checkpoint])]``: differing params, then metrics with the better one starred."""
    rows: list[tuple[str, list[str]]] = []
    for key, values in table["params"].items():
        rows.append((f"param {key}", [number(v, missing="-") for v in values]))
    baselines = []
    for metric, entry in table["metrics"].items():
        arrow = {True: "↓", False: "↑"}.get(entry.get("lower_is_better"), " ")
        if metric.startswith(BASELINE_PREFIXES):
            baselines.append((f"baseline {metric} {arrow}", [number(v, missing="-") for v in entry["values"]]))
        elif metric.startswith("painter.") or metric in ("selection_loss", "best_val_loss"):
            best = set(entry.get("best", []))
            label = metric.removeprefix("painter.")
            rows.append((f"{label} {arrow}", [number(v, missing="-") + (" *" if i in best else "") for i, v in enumerate(entry["values"])]))
    return rows + baselines


def print_compare(table: dict[str, Any], names: list[str]) -> None:
    rows = compare_rows(table)
    if not table["params"]:
        click.echo("no params differ")
    if interactive():
        from rich.console import Console
        from rich.table import Table

        t = Table(title="checkpoints compared (* = better)")
        t.add_column("")
        for name in table["checkpoints"]:
            t.add_column(name)
        for label, cells in rows:
            t.add_row(label, *[f"[green]{c}[/]" if c.endswith("*") else c for c in cells])
        Console().print(t)
        return
    width = max([len(r[0]) for r in rows] + [10])
    cols = [max(len(n), 12) for n in table["checkpoints"]]
    click.echo(" " * width + "  " + "  ".join(n.ljust(w) for n, w in zip(table["checkpoints"], cols)))
    for label, cells in rows:
        click.echo(label.ljust(width) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, cols)))
    for name, why in table.get("broken", {}).items():
        click.echo(f"{name}: broken ({why})")
