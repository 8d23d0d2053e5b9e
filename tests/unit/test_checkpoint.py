"""Checkpoint folders: atomic save, JSON-only listing, picking, checked loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avstudio.errors import ModelError
from avstudio.mapper.checkpoint import (
    checkpoint_config,
    list_checkpoints,
    load_checkpoint,
    new_checkpoint_name,
    pick_checkpoint,
    save_checkpoint,
    set_best,
)
from avstudio.mapper.model import MapperConfig, expected_shapes

ROOT = Path(__file__).resolve().parents[2]
MAPPER = MapperConfig(70, 32, hidden=16, depth=2, dropout=0.1)
HISTORY = [
    {"epoch": 1, "train_loss": 0.9, "val_loss": 0.8},
    {"epoch": 2, "train_loss": 0.5, "val_loss": 0.4},
    {"epoch": 3, "train_loss": 0.3, "val_loss": 0.45},
]


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in expected_shapes(MAPPER).items()}


def config(created: str, *, best: bool = False, lr: float = 1e-3, audio=("builtin-audio", 70)) -> dict:
    data = checkpoint_config(
        mapper=MAPPER.to_dict(),
        train={"epochs": 3, "lr": lr},
        audio=audio,
        image=("builtin-image", 32),
        data_fingerprint="abc123",
        best_epoch=2,
        best=best,
    )
    data["created"] = created
    return data


def save(root, name, created, **kw):
    return save_checkpoint(
        root, name,
        state_dict=weights(),
        config=config(created, **kw),
        metrics={"history": HISTORY, "final": {"mae": 12.5, "ssim": 0.61}},
    )


def test_round_trip_is_bit_identical(tmp_path):
    state = weights(3)
    extras = {"brightness_probe": np.array([0.5, -1.25], dtype=np.float32)}
    path = save_checkpoint(
        tmp_path, "mapper-a",
        state_dict=state,
        config=config("2026-11-22T03:15:00+00:00", best=True),
        metrics={"history": HISTORY, "final": {"mae": 12.5}},
        extras=extras,
    )
    assert path == tmp_path / "mapper-a"
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json", "extras.safetensors", "metrics.json", "model.safetensors",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folder moved away

    loaded = load_checkpoint(tmp_path, "mapper-a")
    assert loaded.state_dict.keys() == state.keys()
    for key in state:
        assert loaded.state_dict[key].dtype == np.float32
        assert loaded.state_dict[key].tobytes() == state[key].tobytes()
    np.testing.assert_array_equal(loaded.extras["brightness_probe"], [0.5, -1.25])
    assert loaded.mapper_config == MAPPER
    assert loaded.metrics["history"] == HISTORY

    raw = json.loads((path / "config.json").read_text())
    assert raw["name"] == "mapper-a"
    assert raw["created"] == "2026-11-22T03:15:00+00:00"
    assert raw["encoders"] == {
        "audio": {"name": "builtin-audio", "dim": 70},
        "image": {"name": "builtin-image", "dim": 32},
    }
    assert raw["data_fingerprint"] == "abc123"
    assert raw["best_epoch"] == 2 and raw["best"] is True
    assert raw["mapper"] == MAPPER.to_dict()
    assert isinstance(raw["avstudio_version"], str)
    # loading the folder directly works as well
    assert load_checkpoint(path).name == "mapper-a"


def test_saving_again_replaces_the_folder(tmp_path):
    save(tmp_path, "m", "2026-01-01T00:00:00+00:00", lr=0.1)
    save(tmp_path, "m", "2026-01-01T00:00:00+00:00", lr=0.2)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["train"]["lr"] == 0.2
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_list_newest_first_with_a_broken_folder(tmp_path):
    save(tmp_path, "old", "2026-01-01T00:00:00+00:00", best=True)
    save(tmp_path, "new", "2026-03-01T00:00:00+00:00")
    save(tmp_path, "middle", "2026-02-01T00:00:00+00:00", best=True)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (tmp_path / ".in-progress.tmp").mkdir()  # hidden temp folders are not checkpoints

    infos = list_checkpoints(tmp_path)
    good = [i for i in infos if i.broken is None]
    assert [i.name for i in good] == ["new", "middle", "old"]
    [bad] = [i for i in infos if i.broken is not None]
    assert bad.name == "broken" and "config.json is not valid JSON" in bad.broken
    new = good[0]
    assert new.created == "2026-03-01T00:00:00+00:00" and new.best is False
    assert new.metrics == {"mae": 12.5, "ssim": 0.61, "best_val_loss": 0.4, "best_epoch": 2.0}
    assert new.history == HISTORY
    assert list_checkpoints(tmp_path / "missing") == []

    assert pick_checkpoint(tmp_path, "latest").name == "new"
    assert pick_checkpoint(tmp_path, "best").name == "middle"
    assert pick_checkpoint(tmp_path, "old").name == "old"
    set_best(tmp_path, "new")
    assert pick_checkpoint(tmp_path, "best").name == "new"


def test_evaluation_section_is_summarised_with_dotted_names(tmp_path):
    evaluation = {"n_val": 60, "preview": [340, 399], "mapper": {"ssim": 0.7}, "mean_frame": {"ssim": 0.5}}
    save_checkpoint(
        tmp_path, "m",
        state_dict=weights(),
        config=config("2026-01-01T00:00:00+00:00"),
        metrics={"history": HISTORY, "evaluation": evaluation},
    )
    [info] = list_checkpoints(tmp_path)
    assert info.metrics == {
        "n_val": 60.0, "mapper.ssim": 0.7, "mean_frame.ssim": 0.5, "best_val_loss": 0.4, "best_epoch": 2.0,
    }
    assert info.raw_metrics["evaluation"]["preview"] == [340, 399]
    as_json = json.loads(json.dumps(info.to_dict()))
    assert as_json["path"] == str(tmp_path / "m") and as_json["history"] == HISTORY


def test_listing_does_not_import_torch(tmp_path):
    save(tmp_path, "m", "2026-01-01T00:00:00+00:00")
    code = (
        "import sys\n"
        "from avstudio.mapper.checkpoint import list_checkpoints, pick_checkpoint\n"
        f"assert list_checkpoints({str(tmp_path)!r})[0].name == 'm'\n"
        f"assert pick_checkpoint({str(tmp_path)!r}, 'latest').name == 'm'\n"
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_missing_name_lists_available(tmp_path):
    save(tmp_path, "mapper-a", "2026-01-01T00:00:00+00:00")
    save(tmp_path, "mapper-b", "2026-01-02T00:00:00+00:00")
    with pytest.raises(ModelError) as info:
        load_checkpoint(tmp_path, "mapper-zzz")
    assert "mapper-zzz" in info.value.message
    assert "mapper-b, mapper-a" in info.value.hint
    with pytest.raises(ModelError, match="no checkpoint marked best"):
        pick_checkpoint(tmp_path, "best")
    with pytest.raises(ModelError, match="no checkpoint usable"):
        pick_checkpoint(tmp_path / "empty", "latest")


def test_encoder_mismatch_names_both_encoders(tmp_path):
    save(tmp_path, "m", "2026-01-01T00:00:00+00:00")
    with pytest.raises(ModelError) as info:
        load_checkpoint(tmp_path, "m", expect_audio=("clap:laion/clap-htsat-unfused", 512))
    assert info.value.message == (
        "checkpoint m was trained on audio encoder 'builtin-audio' (70-d) "
        "but the manifest uses 'clap:laion/clap-htsat-unfused' (512-d)"
    )
    assert "retrain" in info.value.hint and "encoders.audio back to 'builtin'" in info.value.hint
    with pytest.raises(ModelError, match=r"image encoder 'builtin-image' \(32-d\).*\(64-d\)"):
        load_checkpoint(tmp_path, "m", expect_image=("builtin-image", 64))
    ok = load_checkpoint(tmp_path, "m", expect_audio=("builtin-audio", 70), expect_image=("builtin-image", 32))
    assert ok.config["best_epoch"] == 2


def test_corrupted_weights_are_a_model_error(tmp_path):
    path = save(tmp_path, "m", "2026-01-01T00:00:00+00:00")
    model = path / "model.safetensors"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(ModelError) as info:
        load_checkpoint(tmp_path, "m")
    assert info.value.message.startswith("checkpoint m: model.safetensors is corrupted (")
    assert info.value.hint == "delete the folder and rerun `avstudio run train`"
    model.write_bytes(b"\x00" * 5)
    with pytest.raises(ModelError, match="is corrupted"):
        load_checkpoint(path)


def test_weights_that_do_not_match_config_are_refused(tmp_path):
    wrong = {k: v for k, v in weights().items() if k != "layers.8.bias"}
    save_checkpoint(tmp_path, "m", state_dict=wrong, config=config("2026-01-01T00:00:00Z"), metrics={})
    with pytest.raises(ModelError, match="does not match config.json.*layers.8.bias"):
        load_checkpoint(tmp_path, "m")


def test_missing_weights_listed_as_broken(tmp_path):
    path = save(tmp_path, "m", "2026-01-01T00:00:00+00:00")
    (path / "model.safetensors").unlink()
    [info] = list_checkpoints(tmp_path)
    assert info.broken == "model.safetensors is missing"
    with pytest.raises(ModelError, match="model.safetensors is missing"):
        load_checkpoint(path)


def test_new_names_are_short_and_unique(tmp_path):
    names = set()
    for _ in range(50):
        name = new_checkpoint_name(tmp_path)
        assert len(name) == 6 and int(name, 16) >= 0
        assert not any(name in other or other in name for other in names)
        (tmp_path / name).mkdir()
        names.add(name)
    assert new_checkpoint_name(tmp_path, prefix="probe").startswith("probe-")
