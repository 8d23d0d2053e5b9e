"""Images drawn with half blocks: each cell is "▀" with the top pixel as foreground colour
and the bottom pixel as background, so two pixel rows fit one text row over any terminal.
Without colour (NO_COLOR) a luminance ramp of ASCII characters stands in.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

RAMP = " .:-=+*#%@"


def fit(image: np.ndarray, *, cols: int) -> np.ndarray:
    """Resample ``image`` to ``cols`` pixels wide and an even height keeping the aspect ratio.

    Each terminal cell is about twice as tall as wide, and holds two pixel rows, so the
    pixel aspect is kept as is.

    Parameters
    ----------
    image : np.ndarray [shape=(h, w, 3), uint8]
    cols : int
        Output width in pixels (= terminal cells).

    Returns
    -------
    np.ndarray [shape=(2 * rows, cols, 3), uint8]
        Area-averaged where shrinking, nearest where growing.
    """
    h, w = image.shape[:2]
    cols = max(int(cols), 1)
    rows2 = max(2, int(round(h * cols / w / 2)) * 2)
    ys = np.linspace(0, h, rows2 + 1)
    xs = np.linspace(0, w, cols + 1)
    y_lo = np.minimum(ys[:-1].astype(int), h - 1)
    y_hi = np.maximum(ys[1:].astype(int), y_lo + 1)
    x_lo = np.minimum(xs[:-1].astype(int), w - 1)
    x_hi = np.maximum(xs[1:].astype(int), x_lo + 1)
    # summed-area table: the mean over each source box in O(1) per output pixel
    sat = np.zeros((h + 1, w + 1, 3), dtype=np.float64)
    sat[1:, 1:] = image.astype(np.float64).cumsum(0).cumsum(1)
    total = (sat[y_hi][:, x_hi] - sat[y_lo][:, x_hi] - sat[y_hi][:, x_lo] + sat[y_lo][:, x_lo])
    area = ((y_hi - y_lo)[:, None] * (x_hi - x_lo)[None, :])[..., None]
    return np.clip(np.rint(total / area), 0, 255).astype(np.uint8)


def halfblock_lines(image: np.ndarray, *, cols: int, color: bool = True) -> list[Text]:
    """``image`` as text rows of ``cols`` cells.

    Parameters
    ----------
    image : np.ndarray [shape=(h, w, 3), uint8]
    cols : int
    color : bool
        Half blocks in true colour (Textual downsamples to 256/16 colours where the
        terminal needs it); False gives a luminance ramp (NO_COLOR, monochrome).

    Returns
    -------
    list of rich.text.Text
        ``round(h * cols / w / 2)`` lines of exactly ``cols`` cells.
    """
    px = fit(image, cols=cols)
    lines = []
    for r in range(0, px.shape[0], 2):
        top, bottom = px[r], px[r + 1]
        line = Text(no_wrap=True, overflow="crop")
        if color:
            for c in range(px.shape[1]):
                line.append("▀", Style(color=Color.from_rgb(*top[c]), bgcolor=Color.from_rgb(*bottom[c])))
        else:
            luma = (top.astype(np.float32) + bottom) @ np.array([0.299, 0.587, 0.114], np.float32) / 2
            idx = np.minimum((luma / 256 * len(RAMP)).astype(int), len(RAMP) - 1)
            line.append("".join(RAMP[i] for i in idx))
        lines.append(line)
    return lines


def preview_grid(columns: Mapping[str, np.ndarray], *, width: int, color: bool = True,
                 gap: int = 1, max_cols: int = 16) -> Text:
    """Side-by-side previews: one titled column per source, one block of rows per frame.

    Parameters
    ----------
    columns : mapping of str to np.ndarray [shape=(rows, h, w, 3), uint8]
        e.g. ``{"true": ..., "mean frame": ..., "ckpt-a": ...}``; every array has the same
        number of rows (preview frames).
    width : int
        Cells available for the whole grid.
    max_cols : int
        Widest a single image gets (so a wide terminal does not fill with one frame).

    Returns
    -------
    rich.text.Text
    """
    names = list(columns)
    if not names:
        return Text("(no preview frames)", style="dim")
    n = len(names)
    cols = min(max((width - gap * (n - 1)) // n, 4), max_cols)
    out = Text(no_wrap=True, overflow="crop")
    for k, name in enumerate(names):
        out.append((" " * gap if k else "") + name[:cols].center(cols), style="bold")
    out.append("\n")
    n_rows = min(len(a) for a in columns.values())
    for i in range(n_rows):
        blocks = [halfblock_lines(np.asarray(columns[name][i]), cols=cols, color=color) for name in names]
        height = max(len(b) for b in blocks)
        for r in range(height):
            for k, block in enumerate(blocks):
                if k:
                    out.append(" " * gap)
                out.append_text(block[r] if r < len(block) else Text(" " * cols))
            out.append("\n")
    out.rstrip()
    return out


class PreviewGrid(Widget):
    """Preview frames of several sources side by side (see :func:`preview_grid`)."""

    DEFAULT_CSS = """
    PreviewGrid { height: auto; }
    """

    def __init__(self, columns: Mapping[str, np.ndarray] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns: dict[str, np.ndarray] = dict(columns or {})

    def set_columns(self, columns: Mapping[str, np.ndarray]) -> None:
        self.columns = dict(columns)
        self.refresh(layout=True)

    def _text(self, width: int) -> Text:
        return preview_grid(self.columns, width=width, color=not self.app.no_color)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._text(width).split("\n"))

    def render(self) -> Text:
        return self._text(self.size.width)
