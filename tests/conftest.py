"""Shared fixtures: tiny synthetic clips and workspaces made from them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def solid_clip(tmp_path_factory) -> Path:
    """3.0 s, 30 fps, 64x48 of RGB (200, 100, 50) with a 440 Hz tone (44.1 kHz mono)."""
    from tests.synthmedia import make_video, solid_frames, tone

    path = tmp_path_factory.mktemp("media") / "solid.mp4"
    return make_video(path, solid_frames(90, 48, 64, (200, 100, 50)), fps=30,
                      audio=tone(3.0, 44100, 440.0, 0.3), audio_sr=44100)


@pytest.fixture(scope="session")
def silent_video_clip(tmp_path_factory) -> Path:
    """2.0 s, 25 fps, 64x48 textured pan of 2 px per frame, no audio stream."""
    from tests.synthmedia import make_video, moving_square

    path = tmp_path_factory.mktemp("media") / "noaudio.mp4"
    return make_video(path, moving_square(50, 48, 64, step_px=2, size=64 + 50 * 2), fps=25)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """12 s, 30 fps, 96x72 moving square with a tone: long enough to interrupt mid-stage."""
    from tests.synthmedia import make_video, moving_square, tone

    path = tmp_path_factory.mktemp("media") / "long.mp4"
    return make_video(path, moving_square(360, 72, 96, step_px=1, size=24), fps=30,
                      audio=tone(12.0, 44100, 330.0, 0.3), audio_sr=44100, lossless=False)


@pytest.fixture
def make_ws(tmp_path):
    """``make_ws(video, template="sonify", **manifest_overrides)`` -> Workspace."""
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    counter = iter(range(1000))

    def make(video: Path, template: str = "sonify", **overrides) -> Workspace:
        root = tmp_path / f"ws{next(counter)}"
        create_workspace(root, template=template, video=video)
        ws = Workspace(root)
        for dotted, value in overrides.items():
            ws.manifest.set(dotted.replace("__", "."), value)
        return Workspace(root)

    return make


def run_all(ws, *targets, **kw):
    """Run the pipeline collecting events; returns (result, events)."""
    from avstudio.pipeline.runner import run

    events = []
    result = run(ws, targets, on_event=events.append, **kw)
    return result, events


def approx_rgb(values, rgb, tol):
    return np.all(np.abs(np.asarray(values, float) - np.asarray(rgb, float)) <= tol)
