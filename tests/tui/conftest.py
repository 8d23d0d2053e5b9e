"""Fixtures for the TUI tests: a tiny sonify workspace running a fake (fast, holdable) pipeline."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import avstudio.stages
from tests.tui.fakestages import FAKE_PIPELINE

REPO = Path(__file__).resolve().parents[2]
FROZEN = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests (Pilot) on a fresh asyncio loop; no async plugin needed."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in inspect.signature(pyfuncitem.obj).parameters}
    asyncio.run(pyfuncitem.obj(**args))
    return True


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 12-frame 48x32 solid-colour video (no audio)."""
    from tests.synthmedia import make_video, solid_frames

    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return make_video(path, solid_frames(12, 32, 48, (200, 100, 50)), fps=12)


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Sonify workspaces run the fake stages source -> slow -> tail (see fakestages.py)."""
    monkeypatch.setitem(avstudio.stages.PIPELINES, "sonify", FAKE_PIPELINE)
    for var in ("AVSTUDIO_FAKE_GATE", "AVSTUDIO_FAKE_DELAY", "AVSTUDIO_FAKE_CHUNKS", "AVSTUDIO_FAKE_FAIL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def ws_dir(tmp_path, clip, fake_pipeline) -> Path:
    """A fresh sonify workspace (nothing run yet) using the fake pipeline."""
    from avstudio.workspace.create import create_workspace

    return create_workspace(tmp_path / "ws", template="sonify", video=clip).root


@pytest.fixture
def ran_ws_dir(ws_dir) -> Path:
    """The workspace with every fake stage run once (synchronously, no TUI)."""
    from avstudio.pipeline.runner import run
    from avstudio.workspace.workspace import Workspace

    result = run(Workspace(ws_dir))
    assert result.ran == ["source", "slow", "tail"]
    return ws_dir


@pytest.fixture
def frozen_tz(monkeypatch):
    """Local time is UTC (times shown in tables and logs are deterministic)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def freeze_times(ws_dir: Path) -> None:
    """Rewrite recorded times and durations to fixed values (for snapshots)."""
    state_file = ws_dir / ".avstudio" / "state.json"
    state = json.loads(state_file.read_text())
    for k, rec in enumerate(state["stages"].values()):
        rec["last_run"].update(finished=FROZEN + k, seconds=0.25 * (k + 1))
    state_file.write_text(json.dumps(state))
    log = ws_dir / "logs" / "events.jsonl"
    lines = []
    for k, line in enumerate(log.read_text().splitlines()):
        event = json.loads(line)
        event["time"] = FROZEN + k
        for key in ("seconds", "rate"):
            if isinstance(event.get(key), float):
                event[key] = 1.5
        lines.append(json.dumps(event))
    log.write_text("\n".join(lines) + "\n")


def make_checkpoints(root: Path, specs: list[tuple[str, float, int, bool]]) -> list[str]:
    """Checkpoint folders as the trainer writes them: (name, lr, hidden, best) each.

    Checkpoint ``k`` has val loss ``1.2 / epoch**(0.4 + 0.1 k) + 0.05`` over 12 epochs and
    test-block scores (``evaluation.json``) ``painter.polarity_bacc = 0.5 + 0.1 k``,
    ``painter.mae = 20 - 3 k``.
    """
    import json

    from avstudio.mapper.checkpoint import FORMAT, save_checkpoint

    for k, (name, lr, hidden, best) in enumerate(specs):
        history = [{"epoch": e, "train_loss": 1.0 / e ** (0.5 + 0.1 * k),
                    "val_loss": 1.2 / e ** (0.4 + 0.1 * k) + 0.05} for e in range(1, 13)]
        path = save_checkpoint(
            root, name, state_dict={"w": np.zeros((2, 2), np.float32)},
            config={"format": FORMAT,
                    "mapper": {"in_dim": 8, "out_dim": 4, "hidden": hidden, "depth": 2, "dropout": 0.1},
                    "train": {"lr": lr, "epochs": 12, "seed": 0},
                    "encoders": {"audio": {"name": "builtin-audio", "dim": 8},
                                 "image": {"name": "builtin-image", "dim": 4}},
                    "best": best, "created": f"2025-01-0{k + 1}T12:00:00+00:00"},
            metrics={"history": history},
        )
        rows = {"painter": {"mae": 20.0 - 3 * k, "polarity_bacc": 0.5 + 0.1 * k},
                "mean_frame": {"mae": 25.0, "polarity_bacc": 0.5}}
        (path / "evaluation.json").write_text(json.dumps({"subsets": {"music": {"n_frames": 10, "rows": rows}}}))
    return [s[0] for s in specs]


def stub_previews(monkeypatch) -> dict[str, np.ndarray]:
    """Replace preview_frames / write_comparison with fast stubs of known colours."""
    import avstudio.evaluate.preview as preview

    colours = {"true": (255, 255, 255), "mean frame": (128, 128, 128)}

    def fake_preview_frames(ws, infos):
        cols = dict(colours)
        for k, info in enumerate(infos):
            cols[info.name] = (255, 0, 0) if k == 0 else (0, 0, 255)
        return [3, 7], {name: np.full((2, 8, 12, 3), rgb, np.uint8) for name, rgb in cols.items()}

    def fake_write_comparison(ws, infos, out):
        Path(out).write_bytes(b"\x89PNG fake")
        return Path(out)

    monkeypatch.setattr(preview, "preview_frames", fake_preview_frames)
    monkeypatch.setattr(preview, "write_comparison", fake_write_comparison)
    return colours


async def wait_for(pilot, condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until ``condition()`` holds (fails the test after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


_CHARS = {"question_mark": "?", "space": " ", "enter": "\r", "escape": "\x1b"}


async def tap(pilot, *keys: str) -> None:
    """Press keys without Pilot's wait for an idle process.

    ``pilot.press`` waits (up to 2 s per key) until the process stops using CPU, which
    never happens while a run works in a thread; this posts the same key events the
    driver would and gives the app a moment to handle each.
    """
    from textual import events

    for key in keys:
        pilot.app.post_message(events.Key(key, _CHARS.get(key, key if len(key) == 1 else None)))
        await pilot.pause(0.03)


def text_of(renderable, width: int = 100) -> str:
    """Plain text of a Rich renderable or Textual content (a Static's ``content``, a render())."""
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def make_app(ws_dir: Path, **kwargs):
    from avstudio.tui.app import AvStudioApp
    from avstudio.workspace.workspace import Workspace

    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("detach", False)  # the fake stages exist in this process only
    return AvStudioApp(Workspace(ws_dir), **kwargs)


def states(app) -> dict[str, str]:
    """``{stage: state}`` as the stage table shows it."""
    return {s.name: s.state for s in app.project_screen.table.statuses}


def headless_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return env
