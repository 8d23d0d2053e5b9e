"""The checkpoints screen: list, mark two, compare (params, metrics, curves, previews), PNG, use."""

from __future__ import annotations

from avstudio.tui.screens.checkpoints import CheckpointsScreen
from avstudio.tui.widgets.plot import LinePlot
from avstudio.tui.widgets.halfblock import PreviewGrid
from tests.tui.conftest import make_app, make_checkpoints, stub_previews, tap, text_of, wait_for


async def _open_checkpoints(pilot, app) -> CheckpointsScreen:
    screen = app.project_screen
    await wait_for(pilot, lambda: screen.ready)
    assert screen.check_action("checkpoints", ()) is True
    await tap(pilot, "c")
    await wait_for(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and app.screen.is_mounted)
    return app.screen


async def test_checkpoints_are_listed_and_two_compared(ran_ws_dir, monkeypatch, frozen_tz):
    make_checkpoints(ran_ws_dir / "checkpoints", [("ckpt-a", 1e-3, 64, False), ("ckpt-b", 3e-4, 128, True)])
    stub_previews(monkeypatch)
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        ck = await _open_checkpoints(pilot, app)
        table = ck.table
        assert [k.value for k in table.rows] == ["ckpt-b", "ckpt-a"]  # newest first
        row_b = [str(c) for c in table.get_row("ckpt-b")]
        assert row_b[1:] == ["★ ckpt-b", "128×2", "0.0003", "0.3964", "0.6", "17", "01-02 12:00"]
        # nothing marked: the checkpoint under the cursor is described
        assert ck.compared == ["ckpt-b"]
        await tap(pilot, "space", "down", "space")
        await wait_for(pilot, lambda: ck.compared == ["ckpt-b", "ckpt-a"], what="two compared")
        assert ck.marked == ["ckpt-b", "ckpt-a"]
        assert [str(table.get_cell(n, "✓")) for n in ("ckpt-b", "ckpt-a")] == ["●", "●"]
        cmp = ck.comparison
        assert cmp["params"] == {"mapper.hidden": [128, 64], "train.lr": [0.0003, 0.001]}
        assert cmp["metrics"]["painter.polarity_bacc"]["best"] == [0]  # 0.6 > 0.5
        assert cmp["metrics"]["painter.mae"]["best"] == [0]  # 17 < 20
        assert cmp["metrics"]["best_val_loss"]["best"] == [0]
        metrics = text_of(ck.query_one("#compare-metrics").content)
        assert "painter.polarity_bacc ↑" in metrics and "▲ 0.6" in metrics and "best_epoch" not in metrics
        assert "mapper.hidden" in text_of(ck.query_one("#compare-params").content)
        plot = ck.query_one(LinePlot)
        assert [s.label for s in plot.series] == ["ckpt-b val", "ckpt-b train", "ckpt-a val", "ckpt-a train"]
        assert [round(v, 4) for v in plot.series[0].ys[:2]] == [1.25, round(1.2 / 2 ** 0.5 + 0.05, 4)]
        await wait_for(pilot, lambda: ck.preview_columns is not None, what="preview frames")
        assert list(ck.preview_columns) == ["true", "mean frame", "ckpt-b", "ckpt-a"]
        grid = text_of(ck.query_one(PreviewGrid).render())
        assert "▀" in grid and "ckpt-a" in grid
        # the contact sheet PNG
        await tap(pilot, "w")
        await wait_for(pilot, lambda: ck.sheet_path is not None, what="sheet written")
        assert ck.sheet_path == ran_ws_dir / "outputs" / "compare-ckpt-b-vs-ckpt-a.png"
        assert ck.sheet_path.read_bytes().startswith(b"\x89PNG")
        assert text_of(ck.query_one("#ckpt-status").content, width=300).strip() == f"wrote {ck.sheet_path}"
        # a sonify workspace does not paint: no checkpoint to choose
        assert ck.check_action("use_for_paint", ()) is False
        await tap(pilot, "escape")
        await wait_for(pilot, lambda: app.screen is app.project_screen)


async def test_use_for_paint_sets_the_manifest_keeping_comments(tmp_path, clip, monkeypatch):
    from avstudio.workspace.create import create_workspace

    ws_dir = create_workspace(tmp_path / "ba", template="bad-apple", video=clip).root
    make_checkpoints(ws_dir / "checkpoints", [("ckpt-a", 1e-3, 64, True), ("ckpt-b", 3e-4, 128, False)])
    stub_previews(monkeypatch)
    comments = [line for line in (ws_dir / "avstudio.toml").read_text().splitlines() if line.startswith("#")]
    app = make_app(ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        ck = await _open_checkpoints(pilot, app)
        assert ck.cursor_name == "ckpt-b"
        assert ck.check_action("use_for_paint", ()) is True
        await tap(pilot, "u")
        await wait_for(pilot, lambda: app.ws.manifest.get("paint.checkpoint") == "ckpt-b")
        assert "◆" in str(ck.table.get_cell("ckpt-b", "checkpoint"))
    text = (ws_dir / "avstudio.toml").read_text()
    assert 'checkpoint = "ckpt-b"' in text
    assert [line for line in text.splitlines() if line.startswith("#")] == comments
