"""Model lookup (folders, HF cache layout), device/dtype choice, OOM reporting, doctor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from avstudio.errors import ModelError
from avstudio.models import (
    cached_snapshot,
    folder_size,
    hf_cache_dir,
    oom_guard,
    pick_device,
    pick_dtype,
    resolve_model,
)

REPO = Path(__file__).resolve().parents[2]


def _folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _fake_hf_repo(cache: Path, repo_id: str, commit: str, files: dict[str, str], *, ref: bool = True) -> Path:
    """The hub cache layout: blobs, snapshots/<commit>/ with symlinks, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for i, (name, text) in enumerate(files.items()):
        blob = repo / "blobs" / f"blob{i}{commit}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_text(text)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def clean_hf_env(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_absolute_folder_with_required_files(tmp_path):
    folder = _folder(tmp_path / "clap", {"config.json": "{}", "model.safetensors": "x"})
    required = ("config.json", "model.safetensors|pytorch_model.bin")
    found = resolve_model(str(folder), role="CLAP", required=required)
    assert found == folder.resolve()


def test_relative_folder_is_relative_to_base(tmp_path):
    _folder(tmp_path / "models" / "clip", {"config.json": "{}"})
    assert resolve_model("models/clip", role="CLIP", base=tmp_path) == (tmp_path / "models" / "clip").resolve()


def test_home_folder_is_expanded(clean_hf_env):
    folder = _folder(clean_hf_env / "home" / "weights" / "sd", {"model_index.json": "{}"})
    assert resolve_model("~/weights/sd", role="SD", required=("model_index.json",)) == folder.resolve()


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(ModelError) as info:
        resolve_model(str(tmp_path / "nope"), role="CLAP audio encoder", setting="encoders.audio = 'clap:/x'")
    assert str(tmp_path / "nope") in info.value.message
    assert "CLAP audio encoder" in info.value.message
    assert "encoders.audio = 'clap:/x'" in info.value.hint
    assert "\n" not in info.value.one_line()


def test_incomplete_folder_names_the_missing_file(tmp_path):
    folder = _folder(tmp_path / "sd", {"model_index.json": "{}", "unet/config.json": "{}"})
    with pytest.raises(ModelError) as info:
        resolve_model(
            str(folder), role="Stable Diffusion 1.5", required=("model_index.json", "unet/config.json", "vae/config.json")
        )
    assert "missing vae/config.json" in info.value.message
    with pytest.raises(ModelError, match="missing a.bin or a.safetensors"):
        resolve_model(str(folder), role="x", required=("a.bin|a.safetensors",))


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        resolve_model(str(tmp_path / "weights.bin"), role="CLIP")


def test_hf_id_found_in_hub_cache_via_refs_main(clean_hf_env, monkeypatch):
    cache = clean_hf_env / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    old = _fake_hf_repo(cache, "laion/clap-htsat-unfused", "a" * 40, {"config.json": "{}"})
    new = _fake_hf_repo(cache, "laion/clap-htsat-unfused", "b" * 40, {"config.json": "{}", "x.safetensors": "w"})
    (cache / "models--laion--clap-htsat-unfused" / "refs" / "main").write_text("a" * 40 + "\n")
    assert hf_cache_dir() == cache
    assert resolve_model("laion/clap-htsat-unfused", role="CLAP", required=("config.json",)) == old
    assert new.name == "b" * 40


def test_hf_id_without_refs_takes_newest_snapshot(clean_hf_env, monkeypatch):
    cache = clean_hf_env / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    old = _fake_hf_repo(cache, "org/model", "1" * 40, {"config.json": "{}"}, ref=False)
    new = _fake_hf_repo(cache, "org/model", "2" * 40, {"config.json": "{}"}, ref=False)
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(new, (2_000_000, 2_000_000))
    assert cached_snapshot("org/model") == new


def test_hf_home_and_xdg_are_honoured(clean_hf_env, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_hf_env / "xdg"))
    assert hf_cache_dir() == clean_hf_env / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(clean_hf_env / "hfhome"))
    snapshot = _fake_hf_repo(clean_hf_env / "hfhome" / "hub", "org/model", "c" * 40, {"config.json": "{}"})
    assert resolve_model("org/model", role="x") == snapshot
    assert hf_cache_dir() == clean_hf_env / "hfhome" / "hub"


def test_hf_id_missing_from_cache_gives_download_hint(clean_hf_env, monkeypatch):
    cache = clean_hf_env / "empty-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(ModelError) as info:
        resolve_model(
            "laion/clap-htsat-unfused", role="CLAP audio encoder", setting="encoders.audio = 'clap:/path'"
        )
    error = info.value
    assert "'laion/clap-htsat-unfused'" in error.message and str(cache) in error.message
    assert "hf download laion/clap-htsat-unfused" in error.hint
    assert "encoders.audio = 'clap:/path'" in error.hint
    assert "\n" not in error.one_line()


def test_moved_repository_is_found_under_its_new_name(clean_hf_env, monkeypatch):
    cache = clean_hf_env / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(ModelError) as info:
        resolve_model("runwayml/stable-diffusion-v1-5", role="Stable Diffusion 1.5")
    assert "hf download stable-diffusion-v1-5/stable-diffusion-v1-5" in info.value.hint  # the id that still exists
    mirror_id = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    mirror = _fake_hf_repo(cache, mirror_id, "9" * 40, {"model_index.json": "{}"})
    assert resolve_model("runwayml/stable-diffusion-v1-5", role="SD", required=("model_index.json",)) == mirror


def test_broken_blob_link_counts_as_missing(clean_hf_env, monkeypatch):
    cache = clean_hf_env / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snapshot = _fake_hf_repo(cache, "org/model", "d" * 40, {"config.json": "{}", "model.safetensors": "w"})
    (snapshot / "model.safetensors").resolve().unlink()
    with pytest.raises(ModelError, match="incomplete: missing model.safetensors"):
        resolve_model("org/model", role="x", required=("config.json", "model.safetensors"))


def test_folder_size_counts_each_blob_once(clean_hf_env):
    snapshot = _fake_hf_repo(clean_hf_env / "hub", "org/model", "e" * 40, {"a.txt": "12345", "sub/b.txt": "123"})
    (snapshot / "again.txt").symlink_to(snapshot / "a.txt")
    assert folder_size(snapshot) == 8
    assert folder_size(clean_hf_env / "nothing-here") == 0


# -- device -------------------------------------------------------------------------------
@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_device_falls_back_to_cpu(no_cuda):
    assert pick_device("auto") == "cpu"
    assert pick_device("CPU") == "cpu"


def test_cuda_without_cuda_is_a_model_error(no_cuda):
    with pytest.raises(ModelError) as info:
        pick_device("cuda", setting="render.device")
    assert info.value.message == "render.device = 'cuda' but this machine has no CUDA device"
    assert info.value.hint == "set render.device = 'cpu' or 'auto'"


def test_cuda_index_out_of_range(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == "cuda:0"
    assert pick_device("auto") == "cuda"
    with pytest.raises(ModelError, match=r"has 1 CUDA device\(s\)"):
        pick_device("cuda:3")


def test_unknown_device(no_cuda):
    with pytest.raises(ModelError, match="unknown device 'tpu'"):
        pick_device("tpu")


def test_pick_dtype():
    import torch

    assert pick_dtype("auto", "cuda") == torch.float16
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("auto", "mps") == torch.float32
    assert pick_dtype("bf16", "cuda") == torch.bfloat16
    assert pick_dtype("float32", "cuda") == torch.float32
    with pytest.raises(ModelError, match="unknown dtype 'int8'"):
        pick_dtype("int8", "cpu")


def test_oom_guard_turns_cuda_oom_into_model_error():
    import torch

    painted = []
    with pytest.raises(ModelError) as info:
        with oom_guard("painting frames 10..19"):
            painted.append(1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert info.value.message == "GPU out of memory while painting frames 10..19"
    assert "render.width/height" in info.value.hint
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    assert painted == [1]
    with pytest.raises(ValueError):
        with oom_guard():
            raise ValueError("other errors pass through")


# -- doctor -------------------------------------------------------------------------------
def test_doctor_collect_reports_this_machine(clean_hf_env, monkeypatch):
    import numpy
    import torch

    from avstudio.doctor import collect

    cache = clean_hf_env / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    _fake_hf_repo(cache, "laion/clap-htsat-unfused", "f" * 40, {"config.json": "1234567"})
    report = collect()
    assert report["python"] == sys.version.split()[0]
    assert report["torch"]["version"] == torch.__version__
    assert report["torch"]["cuda_available"] == torch.cuda.is_available()
    assert len(report["torch"]["cuda_devices"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert report["packages"]["numpy"] == numpy.__version__
    expected = {"h5py", "av", "cv2", "librosa", "transformers", "diffusers", "textual", "safetensors"}
    assert set(report["packages"]) >= expected
    assert report["hf_cache"] == {"path": str(cache), "exists": True}
    assert report["models"]["clap"]["bytes"] == 7
    assert report["models"]["clap"]["path"].endswith("f" * 40)
    assert report["models"]["sd15"]["path"] is None


def test_importing_models_and_doctor_does_not_import_torch():
    modules = "avstudio.models, avstudio.doctor, avstudio.render.ip_adapter"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
