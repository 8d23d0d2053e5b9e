"""Contact sheet, loss plot and PNG output."""

from __future__ import annotations

import os

import numpy as np
import pytest

from avstudio.errors import MediaError
from avstudio.evaluate.sheet import BACKGROUND, PALETTE, compose, contact_sheet, loss_plot, write_png

cv2 = pytest.importorskip("cv2")


def solid(value, rows=3, h=45, w=80):
    return np.full((rows, h, w, 3), value, dtype=np.uint8)


@pytest.fixture
def sheet():
    columns = {
        "real": solid((255, 0, 0)),
        "mapper": solid((0, 255, 0)),
        "mean frame": solid((0, 0, 255), h=90, w=160),  # other sizes are resized
        "nearest neighbour": solid((255, 255, 255)),
    }
    return contact_sheet(columns, row_labels=["0:01.0", "0:12.5", "1:03.2"], cell_width=80)


def test_contact_sheet_layout(sheet):
    h, w, c = sheet.shape
    assert c == 3 and sheet.dtype == np.uint8
    # 3 rows of 80x45 cells + 4 px gaps under a header; 4 columns + label column
    assert (h - 3 * (45 + 4)) in range(15, 40)
    assert (w - 4 * (80 + 4)) in range(30, 80)
    header = h - 3 * 49
    left = w - 4 * 84
    # each cell holds its column's colour, resized to the first column's size
    for col, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]):
        for row in range(3):
            y, x = header + row * 49, left + col * 84
            assert np.all(sheet[y : y + 45, x : x + 80] == colour)
    # titles and row labels are drawn in light text on the background
    assert sheet[:header].max() > 150
    assert sheet[header:, :left].max() > 150
    assert np.all(sheet[header + 45 : header + 49, left:] == BACKGROUND)  # gap between rows


def test_contact_sheet_rejects_wrong_row_count():
    with pytest.raises(ValueError, match="expected \\(2, h, w, 3\\)"):
        contact_sheet({"real": solid(0)}, row_labels=["a", "b"])


def history(n, scale):
    return [{"epoch": e, "train_loss": scale * 0.9**e, "val_loss": scale * (0.92**e + 0.05)} for e in range(1, n + 1)]


def test_loss_plot_shape_and_curves():
    plot = loss_plot({"mapper-a": history(50, 1.0), "mapper-b": [(e, 0.5 / e, 0.6 / e) for e in range(1, 31)]})
    assert plot.shape == (320, 640, 3) and plot.dtype == np.uint8
    colours = plot.reshape(-1, 3)
    for colour in PALETTE[:2]:  # both checkpoints' colours appear
        assert np.count_nonzero(np.all(colours == colour, axis=1)) > 50
    small = loss_plot({"a": [(1, 0.5, 0.6), (2, 0.4, 0.5)]}, size=(300, 200))
    assert small.shape == (200, 300, 3)
    empty = loss_plot({})
    assert empty.shape == (320, 640, 3) and empty.max() > 100  # axes and a "no loss history" note


def test_compose_and_write_png(tmp_path, sheet):
    plot = loss_plot({"mapper-a": history(20, 1.0)}, size=(400, 200))
    image = compose(sheet, plot, gap=8)
    assert image.shape == (sheet.shape[0] + 8 + 200, max(sheet.shape[1], 400), 3)
    assert np.array_equal(image[: sheet.shape[0], : sheet.shape[1]], sheet)
    assert np.array_equal(image[-200:, :400], plot)

    path = write_png(tmp_path / "out" / "compare.png", image)
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["compare.png"]
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, image)  # RGB in, RGB out, lossless


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_write_png_unwritable_folder_is_media_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MediaError, match="cannot write"):
            write_png(folder / "x.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        folder.chmod(0o700)


def test_write_png_into_a_file_is_media_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MediaError, match="cannot write") as info:
        write_png(blocker / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert info.value.hint == "choose a folder you can write to"
