"""Session fixtures: tiny random models saved once per test session in HF layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_models import save_tiny_clap, save_tiny_clip_vision, save_tiny_ip_adapter, save_tiny_sd15


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_clap(tmp_path_factory) -> Path:
    return save_tiny_clap(tmp_path_factory.mktemp("clap"))


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return save_tiny_clip_vision(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="session")
def tiny_sd15(tmp_path_factory) -> Path:
    return save_tiny_sd15(tmp_path_factory.mktemp("sd15"))


@pytest.fixture(scope="session")
def tiny_ip_adapter(tmp_path_factory) -> Path:
    """A folder holding ``ip-adapter_sd15.safetensors`` for the tiny UNet (16-d embeddings)."""
    folder = tmp_path_factory.mktemp("ip_adapter")
    save_tiny_ip_adapter(folder / "ip-adapter_sd15.safetensors")
    return folder
