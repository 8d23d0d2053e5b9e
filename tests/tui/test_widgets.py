"""Pure pieces of the TUI: formatting, braille plots, half-block images, event-log history."""

from __future__ import annotations

import numpy as np
from rich.color import Color

from avstudio.pipeline.eventlog import EventLogWriter
from avstudio.pipeline.events import Log, Progress, RunFinished, RunStarted, StageFinished, StageStarted
from avstudio import humanize as fmt
from avstudio.tui.bridge import read_history
from avstudio.tui.widgets.halfblock import fit, halfblock_lines, preview_grid
from avstudio.tui.widgets.plot import Series, braille_plot


def test_format():
    assert fmt.duration(None) == ""
    assert fmt.duration(0.5) == "0.50 s"
    assert fmt.duration(12.34) == "12.3 s"
    assert fmt.duration(75) == "1:15"
    assert fmt.duration(3723) == "1:02:03"
    assert fmt.size(0) == "" and fmt.size(512) == "512 B" and fmt.size(1536) == "1.5 KB"
    assert fmt.size(3 * 1024 ** 2) == "3.0 MB"
    assert fmt.rate(45.23, "frames") == "45.2 frames/s" and fmt.rate(44100, "samples") == "44,100 samples/s"
    assert fmt.eta(120, 300, 45.0) == 4.0 and fmt.eta(1, None, 3.0) is None and fmt.eta(1, 5, None) is None
    assert fmt.progress_line("features", 120, 300, "frames", 45.0) == "features  120/300 frames · 45.0 frames/s · ETA 4.00 s"
    assert fmt.progress_line("embed", 7, None, "windows", None) == "embed  7 windows"
    assert fmt.clip("abcdef", 4) == "abc…" and fmt.clip("abc", 4) == "abc"


def test_braille_plot_draws_a_rising_line_corner_to_corner():
    text = braille_plot([Series("up", [0.0, 1.0], "red")], width=14, height=5)
    lines = text.plain.split("\n")
    assert len(lines) == 5  # 3 plot rows, the x axis, the legend
    rows = [line.split("┤", 1)[-1].split("│", 1)[-1] for line in lines[:3]]
    assert [line[:5] for line in lines[:3]] == ["  1 ┤", "0.5 ┤", "  0 ┤"]
    # first point: bottom-left dot (x=0, y=3 of its cell); last: top-right dot (x=1, y=0)
    assert ord(rows[2][0]) & 0x40 and ord(rows[0][-1]) & 0x08
    assert all(0x2800 <= ord(c) <= 0x28FF or c == " " for row in rows for c in row)
    assert lines[3].split("└")[1].startswith("1") and lines[3].endswith("2")  # epochs 1..2
    assert lines[4].endswith("━━ up")
    # every cell a line passes through is drawn: one dot column per row at least
    assert all(row.strip() for row in rows)
    colours = {span.style.color.name for span in text.spans if hasattr(span.style, "color") and span.style.color}
    assert colours == {"red"}


def test_braille_plot_without_data_or_room():
    assert braille_plot([], width=40, height=8).plain == "(no curve to plot)"
    assert braille_plot([Series("a", [1.0, float("nan")])], width=8, height=8).plain == "(no curve to plot)"


def test_fit_averages_areas_and_keeps_aspect():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:, :2] = (255, 0, 0)
    img[:, 2:] = (0, 0, 255)
    out = fit(img, cols=2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 1].tolist() == [0, 0, 255]
    checker = (np.indices((4, 4)).sum(0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, 2)
    assert fit(checker, cols=2)[0, 0].tolist() == [128, 128, 128]  # the mean 127.5, rounded
    wide = np.zeros((12, 40, 3), np.uint8)
    assert fit(wide, cols=20).shape == (6, 20, 3)  # square pixels: 12 * 20 / 40 = 6 pixel rows


def test_halfblock_top_pixel_is_foreground_bottom_is_background():
    img = np.zeros((2, 1, 3), np.uint8)
    img[0] = (255, 255, 255)
    img[1] = (10, 20, 30)
    (line,) = halfblock_lines(img, cols=1)
    assert line.plain == "▀"
    style = line.spans[0].style
    assert style.color == Color.from_rgb(255, 255, 255)
    assert style.bgcolor == Color.from_rgb(10, 20, 30)
    (mono,) = halfblock_lines(np.full((2, 2, 3), 255, np.uint8), cols=2, color=False)
    assert mono.plain == "@@" and not mono.spans
    (dark,) = halfblock_lines(np.zeros((2, 2, 3), np.uint8), cols=2, color=False)
    assert dark.plain == "  "


def test_preview_grid_puts_columns_side_by_side():
    cols = {"true": np.full((2, 4, 4, 3), 255, np.uint8), "ckpt": np.zeros((2, 4, 4, 3), np.uint8)}
    text = preview_grid(cols, width=9, color=False)
    lines = text.plain.split("\n")
    assert lines[0] == "true ckpt"
    # 2 frames x 2 text rows each (4x4 pixels at 4 cells wide): white | black
    assert lines[1:] == ["@@@@     "] * 3 + ["@@@@"]  # (the last line's trailing blanks are cut)


def test_read_history_keeps_each_stages_latest_log_and_the_newest_run(tmp_path):
    path = tmp_path / "events.jsonl"
    w = EventLogWriter(path)
    w.write(RunStarted(run_id="r1"))
    w.write(StageStarted(run_id="r1", stage="a"))
    w.write(Log(run_id="r1", stage="a", message="a from r1"))
    w.write(StageFinished(run_id="r1", stage="a"))
    w.write(RunFinished(run_id="r1"))
    w.write(RunStarted(run_id="r2"))
    w.write(StageStarted(run_id="r2", stage="b"))
    for done in (1, 2, 3):
        w.write(Progress(run_id="r2", stage="b", done=done, total=9))
        w.write(Log(run_id="r2", stage="b", message=f"b {done}"))
    logs, last_run, follower = read_history(path)
    assert {k: [e.message for e in v] for k, v in logs.items()} == {"a": ["a from r1"], "b": ["b 1", "b 2", "b 3"]}
    assert [e.kind for e in last_run] == ["run_started", "stage_started", "progress"]
    assert last_run[-1].done == 3  # only the latest progress is replayed
    w.write(StageFinished(run_id="r2", stage="b"))
    w.close()
    assert [e.kind for e in follower.poll()] == ["stage_finished"]  # follows from where it stopped


def test_device_label_from_the_torch_probe():
    from avstudio.tui.device import device_label

    gpu = '{"torch": "2.4.0", "cuda": true, "count": 2, "name": "NVIDIA H100", "mps": false}'
    assert device_label(gpu, guess="cpu") == "cuda (NVIDIA H100 ×2)"
    cpu_build = '{"torch": "2.4.0+cpu", "cuda": false, "count": 0, "name": "", "mps": false}'
    assert device_label(cpu_build, guess="cuda (NVIDIA H100)") == "cpu (torch 2.4.0+cpu has no CUDA)"
    assert device_label(cpu_build, guess="cpu") == "cpu"
    assert device_label("Traceback ...\nModuleNotFoundError: torch", guess="cuda") == "cuda"
