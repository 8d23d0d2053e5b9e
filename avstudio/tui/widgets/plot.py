"""Line plots in the terminal with braille dots (2x4 dots per cell): loss curves over SSH."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# dot (x, y) inside a cell -> bit of the braille code point (U+2800 + bits)
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


@dataclass(frozen=True)
class Series:
    """One curve: ``ys[i]`` at ``xs[i]`` (``xs`` defaults to 1, 2, ...)."""

    label: str
    ys: Sequence[float]
    color: str = "white"
    xs: Sequence[float] | None = None

    def points(self) -> list[tuple[float, float]]:
        xs = self.xs if self.xs is not None else range(1, len(self.ys) + 1)
        return [(float(x), float(y)) for x, y in zip(xs, self.ys)
                if y is not None and math.isfinite(float(y))]


def _tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.3g}"


def braille_plot(series: Sequence[Series], *, width: int, height: int, color: bool = True) -> Text:
    """Draw ``series`` as braille lines in ``width`` x ``height`` cells, with axes and a legend.

    Parameters
    ----------
    series : sequence of Series
        The curves; points with a None or non-finite y are dropped.
    width, height : int
        Size in terminal cells of the whole plot (labels included).
    color : bool
        Colour each curve; without colour, curves are told apart by the legend order only.

    Returns
    -------
    rich.text.Text
        ``height`` lines: the plot, the x axis labels, the legend.
    """
    pts = [s.points() for s in series]
    flat = [p for ps in pts for p in ps]
    if not flat or width < 12 or height < 4:
        return Text("(no curve to plot)", style="dim")
    x0, x1 = min(p[0] for p in flat), max(p[0] for p in flat)
    y0, y1 = min(p[1] for p in flat), max(p[1] for p in flat)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    if x1 == x0:
        x1 = x0 + 1
    labels = [_tick(y1), _tick((y0 + y1) / 2), _tick(y0)]
    margin = max(len(s) for s in labels) + 1
    cols, rows = width - margin - 1, height - 2
    dots_w, dots_h = cols * 2, rows * 4
    cells: dict[tuple[int, int], int] = {}
    owner: dict[tuple[int, int], int] = {}

    def dot(dx: int, dy: int, k: int) -> None:
        key = (dx // 2, dy // 4)
        cells[key] = cells.get(key, 0) | _DOT_BITS[dx % 2][dy % 4]
        owner[key] = k

    def to_dots(x: float, y: float) -> tuple[int, int]:
        dx = round((x - x0) / (x1 - x0) * (dots_w - 1))
        dy = round((y1 - y) / (y1 - y0) * (dots_h - 1))
        return dx, dy

    for k, ps in enumerate(pts):
        prev = None
        for x, y in ps:
            cur = to_dots(x, y)
            if prev is None:
                dot(*cur, k)
            else:  # a straight line of dots between consecutive points
                n = max(abs(cur[0] - prev[0]), abs(cur[1] - prev[1]), 1)
                for i in range(n + 1):
                    dot(round(prev[0] + (cur[0] - prev[0]) * i / n),
                        round(prev[1] + (cur[1] - prev[1]) * i / n), k)
            prev = cur

    out = Text(no_wrap=True, overflow="crop")
    label_rows = {0: labels[0], rows // 2: labels[1], rows - 1: labels[2]}
    for r in range(rows):
        out.append(label_rows.get(r, "").rjust(margin - 1) + " ", style="dim")
        out.append("┤" if r in label_rows else "│", style="dim")
        for c in range(cols):
            bits = cells.get((c, r))
            if bits is None:
                out.append(" ")
            else:
                style = Style(color=series[owner[(c, r)]].color) if color else None
                out.append(chr(0x2800 + bits), style=style)
        out.append("\n")
    left, right = _tick(x0), _tick(x1)
    axis = " " * margin + "└" + left.ljust(cols - len(right)) + right
    out.append(axis[:width] + "\n", style="dim")
    for k, s in enumerate(series):
        out.append("  " if k else " " * margin)
        out.append("━━ " if color else f"{k + 1}: ", style=Style(color=s.color) if color else None)
        out.append(s.label)
    return out


class LinePlot(Widget):
    """A braille line plot that redraws at its current size.

    Set :attr:`series` to a list of :class:`Series`.
    """

    DEFAULT_CSS = """
    LinePlot { height: 12; }
    """

    series: reactive[list[Series]] = reactive(list, always_update=True)

    def render(self) -> Text:
        return braille_plot(self.series, width=self.size.width, height=self.size.height,
                            color=not self.app.no_color)
