"""Comparison pictures: a contact sheet of frames and a loss plot (cv2 + numpy only).

Images are ``(h, w, 3)`` uint8 RGB like the frames; :func:`write_png` converts
to BGR for cv2 and writes atomically.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avstudio.errors import MediaError

BACKGROUND = (24, 24, 24)
FOREGROUND = (230, 230, 230)
AXES = (150, 150, 150)
GRID = (48, 48, 48)
PALETTE = (  # matplotlib's tab10, RGB
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
_FONT_SCALE = 0.42
_SMALL_SCALE = 0.36
_PAD = 6
_GAP = 4


def _font():
    import cv2

    return cv2.FONT_HERSHEY_SIMPLEX


def _text_size(text: str, scale: float) -> tuple[int, int]:
    import cv2

    (w, h), baseline = cv2.getTextSize(text, _font(), scale, 1)
    return w, h + baseline


def _put(img: np.ndarray, text: str, x: int, y: int, *, scale: float = _FONT_SCALE, color=FOREGROUND) -> None:
    """Draw ``text`` with its top-left corner at ``(x, y)``."""
    import cv2

    (_, h), _ = cv2.getTextSize(text, _font(), scale, 1)
    cv2.putText(img, text, (int(x), int(y + h)), _font(), scale, color, 1, cv2.LINE_AA)


def _fit(text: str, width: int, scale: float) -> str:
    """Shorten ``text`` with '..' until it fits ``width`` pixels."""
    if _text_size(text, scale)[0] <= width:
        return text
    while text and _text_size(text + "..", scale)[0] > width:
        text = text[:-1]
    return text + ".."


# --------------------------------------------------------------------------- contact sheet


def contact_sheet(
    columns: Mapping[str, np.ndarray],
    *,
    row_labels: Sequence[str],
    cell_width: int = 160,
) -> np.ndarray:
    """Frames in a grid: one column per source, one row per timestamp.

    Parameters
    ----------
    columns : dict of str to np.ndarray [shape=(rows, h, w, 3), uint8]
        Column title -> its frames, e.g. ``{"real": ..., "mapper": ..., "mean frame": ...}``.
        Sizes may differ; every cell is resized to ``cell_width`` wide and the
        first column's aspect ratio.
    row_labels : list of str
        One label per row (e.g. ``"0:12.4"``), drawn left of the row.
    cell_width : int
        Width of each cell in pixels.

    Returns
    -------
    np.ndarray [shape=(H, W, 3), uint8]
        With a header row of column titles.
    """
    import cv2

    if not columns:
        raise ValueError("contact_sheet needs at least one column")
    arrays = [np.asarray(v) for v in columns.values()]
    rows = len(row_labels)
    for title, frames in zip(columns, arrays):
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) != rows:
            raise ValueError(f"column {title!r}: expected ({rows}, h, w, 3) frames, got {frames.shape}")
    h0, w0 = arrays[0].shape[1:3]
    cell_h = max(1, round(cell_width * h0 / w0))
    text_h = _text_size("Ag", _FONT_SCALE)[1]
    label_w = max((_text_size(str(t), _FONT_SCALE)[0] for t in row_labels), default=0)
    left = label_w + 2 * _PAD if label_w else _GAP
    header = text_h + 2 * _PAD
    width = left + len(arrays) * (cell_width + _GAP)
    height = header + rows * (cell_h + _GAP)
    sheet = np.empty((height, width, 3), dtype=np.uint8)
    sheet[:] = BACKGROUND
    for c, (title, frames) in enumerate(zip(columns, arrays)):
        x = left + c * (cell_width + _GAP)
        text = _fit(str(title), cell_width, _FONT_SCALE)
        _put(sheet, text, x + (cell_width - _text_size(text, _FONT_SCALE)[0]) // 2, _PAD)
        for r in range(rows):
            y = header + r * (cell_h + _GAP)
            cell = frames[r]
            if cell.shape[:2] != (cell_h, cell_width):
                shrink = cell.shape[1] > cell_width
                cell = cv2.resize(
                    np.ascontiguousarray(cell), (cell_width, cell_h),
                    interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
                )
            sheet[y : y + cell_h, x : x + cell_width] = cell
    for r, label in enumerate(row_labels):
        y = header + r * (cell_h + _GAP) + (cell_h - text_h) // 2
        _put(sheet, str(label), _PAD, y)
    return sheet


# --------------------------------------------------------------------------- loss plot


def _points(curve: Sequence[Any]) -> list[tuple[float, float | None, float | None]]:
    """``(epoch, train, val)`` tuples, or history dicts, to tuples of floats/None."""
    out = []
    for item in curve:
        if isinstance(item, Mapping):
            item = (item.get("epoch"), item.get("train_loss"), item.get("val_loss"))
        epoch, train, val = item
        out.append(tuple(None if v is None else float(v) for v in (epoch, train, val)))
    return out


def _usable(value: float | None, log: bool) -> bool:
    return value is not None and math.isfinite(value) and (value > 0 or not log)


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _ticks(lo: float, hi: float, target: int, *, min_step: float = 0.0) -> list[float]:
    step = max(_nice_step(hi - lo, target), min_step)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Decades in [lo, hi], with 2x and 5x added when fewer than three decades show."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    mults = (1,) if hi / lo > 1000 else (1, 2, 5)
    return [m * 10.0**d for d in decades for m in mults if lo * (1 - 1e-9) <= m * 10.0**d <= hi * (1 + 1e-9)]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.0e}"
    return f"{value:.4g}"


def _dashed(img: np.ndarray, pts: list[tuple[int, int]], color, *, dash: float = 6, gap: float = 4) -> None:
    """A dashed polyline (cv2 has none): the on/off pattern runs on across vertices."""
    import cv2

    phase, on = 0.0, True
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length:
            run = min((dash if on else gap) - phase, length - pos)
            if on:
                a, b = pos / length, (pos + run) / length
                p = (round(x0 + (x1 - x0) * a), round(y0 + (y1 - y0) * a))
                q = (round(x0 + (x1 - x0) * b), round(y0 + (y1 - y0) * b))
                cv2.line(img, p, q, color, 1, cv2.LINE_AA)
            pos += run
            phase += run
            if phase >= (dash if on else gap) - 1e-9:
                phase, on = 0.0, not on


def loss_plot(
    curves: Mapping[str, Sequence[Any]],
    *,
    size: tuple[int, int] = (640, 320),
) -> np.ndarray:
    """Training curves of several checkpoints in one plot.

    Parameters
    ----------
    curves : dict of str to list of (epoch, train_loss, val_loss)
        Per checkpoint name; history dicts ``{"epoch", "train_loss", "val_loss"}``
        are accepted too. None or non-finite losses are skipped.
    size : (int, int)
        Output ``(width, height)``.

    Returns
    -------
    np.ndarray [shape=(height, width, 3), uint8]
        Train dashed, validation solid, one colour per checkpoint, legend at the
        top right; the y axis is logarithmic when the losses span more than
        20x (and are all positive).
    """
    import cv2

    width, height = int(size[0]), int(size[1])
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    data = {name: _points(curve) for name, curve in curves.items()}
    ys = [v for pts in data.values() for _, t, va in pts for v in (t, va) if _usable(v, False)]
    xs = [e for pts in data.values() for e, _, _ in pts if e is not None]
    positive = [v for v in ys if v > 0]
    log = bool(ys) and len(positive) == len(ys) and max(ys) / min(ys) > 20

    tick_h = _text_size("0", _SMALL_SCALE)[1]
    left, right, top, bottom = 8, width - 12, 10, height - tick_h - 14
    if not ys or not xs:
        cv2.rectangle(img, (left, top), (right, bottom), AXES, 1)
        _put(img, "no loss history", left + _PAD, top + _PAD)
        return img

    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    if log:
        y_lo, y_hi = math.log10(min(ys)), math.log10(max(ys))
    else:
        y_lo, y_hi = min(0.0, min(ys)), max(ys)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad_y = 0.05 * (y_hi - y_lo)
    y_lo, y_hi = y_lo - (pad_y if log or min(ys) < 0 else 0), y_hi + pad_y

    y_ticks = _log_ticks(10**y_lo, 10**y_hi) if log else _ticks(y_lo, y_hi, 5)
    left = 8 + max(_text_size(s, _SMALL_SCALE)[0] for s in [*map(_fmt, y_ticks), "epoch"]) + 6

    def px(x: float) -> int:
        return round(left + (x - x_lo) / (x_hi - x_lo) * (right - left))

    def py(y: float) -> int:
        v = math.log10(y) if log else y
        return round(bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top))

    for t in y_ticks:
        y = py(t)
        cv2.line(img, (left, y), (right, y), GRID, 1)
        label = _fmt(t)
        x = left - 6 - _text_size(label, _SMALL_SCALE)[0]
        _put(img, label, x, y - tick_h // 2, scale=_SMALL_SCALE, color=AXES)
    for t in _ticks(x_lo, x_hi, 6, min_step=1.0):
        x = px(t)
        cv2.line(img, (x, bottom), (x, bottom + 3), AXES, 1)
        label = _fmt(t)
        x -= _text_size(label, _SMALL_SCALE)[0] // 2
        _put(img, label, x, bottom + 5, scale=_SMALL_SCALE, color=AXES)
    cv2.rectangle(img, (left, top), (right, bottom), AXES, 1)

    for k, (name, pts) in enumerate(data.items()):
        color = PALETTE[k % len(PALETTE)]
        train = [(px(e), py(t)) for e, t, _ in pts if e is not None and _usable(t, log)]
        val = [(px(e), py(v)) for e, _, v in pts if e is not None and _usable(v, log)]
        if len(train) > 1:
            _dashed(img, train, color)
        if len(val) > 1:
            cv2.polylines(img, [np.array(val, dtype=np.int32)], False, color, 2, cv2.LINE_AA)
        elif len(val) == 1:
            cv2.circle(img, val[0], 2, color, -1, cv2.LINE_AA)

    entries = list(data) + ["train", "val"]
    line_h = _text_size("Ag", _SMALL_SCALE)[1] + 3
    text_w = min(max(_text_size(n, _SMALL_SCALE)[0] for n in entries), (right - left) // 2)
    box_w, box_h = text_w + 32, line_h * len(entries) + 6
    x0, y0 = right - box_w - 6, top + 6
    cv2.rectangle(img, (x0, y0), (x0 + box_w, y0 + box_h), BACKGROUND, -1)
    cv2.rectangle(img, (x0, y0), (x0 + box_w, y0 + box_h), AXES, 1)
    for k, name in enumerate(entries):
        y = y0 + 3 + k * line_h
        mid, sample = y + line_h // 2, [(x0 + 5, y + line_h // 2), (x0 + 23, y + line_h // 2)]
        if name == "train" and k >= len(data):
            _dashed(img, sample, FOREGROUND)
        else:
            color = FOREGROUND if k >= len(data) else PALETTE[k % len(PALETTE)]
            cv2.line(img, sample[0], sample[1], color, 2, cv2.LINE_AA)
        _put(img, _fit(name, text_w, _SMALL_SCALE), x0 + 27, mid - line_h // 2, scale=_SMALL_SCALE)
    _put(img, "loss (log)" if log else "loss", left + 4, top + 3, scale=_SMALL_SCALE, color=AXES)
    label = "epoch"
    x = left - 6 - _text_size(label, _SMALL_SCALE)[0]
    _put(img, label, x, bottom + 5, scale=_SMALL_SCALE, color=AXES)
    return img


# --------------------------------------------------------------------------- table


def table_image(title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                marked: Sequence[Sequence[bool]], *, scale: float = _SMALL_SCALE) -> np.ndarray:
    """A table of text drawn as an image: a title, a header row, rows; marked cells in green.

    Returns
    -------
    np.ndarray [shape=(h, w, 3), uint8]
    """
    table = [list(header)] + [list(r) for r in rows]
    widths = [max(_text_size(str(r[k]), scale)[0] for r in table) + 2 * _PAD for k in range(len(header))]
    line = _text_size("Ag", scale)[1] + _GAP
    width = max(sum(widths) + 2 * _PAD, _text_size(title, _FONT_SCALE)[0] + 2 * _PAD)
    img = np.empty((line * (len(table) + 2) + 2 * _PAD, width, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    _put(img, title, _PAD, _PAD)
    for i, row in enumerate(table):
        x, y = _PAD, _PAD + line * (i + 1) + _GAP
        for k, cell in enumerate(row):
            good = i > 0 and marked[i - 1][k]
            color = PALETTE[2] if good else (AXES if i == 0 else FOREGROUND)
            text = f"{cell}*" if good else str(cell)
            right = k > 0  # numbers right-aligned, names left
            tx = x + widths[k] - _PAD - _text_size(text, scale)[0] if right else x + _PAD
            _put(img, text, tx, y, scale=scale, color=color)
            x += widths[k]
    return img


# --------------------------------------------------------------------------- output


def compose(sheet: np.ndarray, plot: np.ndarray, *, gap: int = 8) -> np.ndarray:
    """Stack the contact sheet above the loss plot (narrower one padded on the right).

    Returns
    -------
    np.ndarray [shape=(h1 + gap + h2, max(w1, w2), 3), uint8]
    """
    width = max(sheet.shape[1], plot.shape[1])
    out = np.empty((sheet.shape[0] + gap + plot.shape[0], width, 3), dtype=np.uint8)
    out[:] = BACKGROUND
    out[: sheet.shape[0], : sheet.shape[1]] = sheet
    out[sheet.shape[0] + gap :, : plot.shape[1]] = plot
    return out


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB (or grey) uint8 image as PNG, atomically (temp file + rename).

    Raises
    ------
    MediaError
        If the folder cannot be created or written.
    """
    import cv2

    path = Path(path)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        from avstudio.files import disk_full_error, is_disk_full

        if is_disk_full(exc):
            raise disk_full_error(exc, path.parent, len(buf), what=path.name) from exc
        raise MediaError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="choose a folder you can write to",
        ) from exc
    return path
