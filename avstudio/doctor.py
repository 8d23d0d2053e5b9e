"""What this machine can run: versions, accelerators, and which model weights are cached.

Nothing heavy is imported when this module is imported; :func:`collect`
imports torch (to ask about CUDA and MPS) and reads package versions from their
installed metadata without importing them.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from avstudio.models.resolve import KNOWN_MODELS, cached_snapshot, folder_size, hf_cache_dir

PACKAGES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "h5py": ("h5py",),
    "av": ("av",),
    "cv2": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python"),
    "librosa": ("librosa",),
    "transformers": ("transformers",),
    "diffusers": ("diffusers",),
    "textual": ("textual",),
    "safetensors": ("safetensors",),
}
"""Import name -> distribution names that provide it."""


def package_version(*distributions: str) -> str | None:
    """The installed version of the first distribution found, or None."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def torch_report() -> dict[str, Any]:
    """torch version, CUDA devices (name, memory) and MPS availability."""
    try:
        import torch
    except ImportError:
        return {"version": None, "cuda_available": False, "cuda_devices": [], "mps_available": False}
    devices = []
    cuda = bool(torch.cuda.is_available())
    if cuda:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append(
                {
                    "index": index,
                    "name": props.name,
                    "memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
    mps = getattr(torch.backends, "mps", None)
    return {
        "version": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cuda_devices": devices,
        "mps_available": bool(mps is not None and mps.is_available()),
    }


def model_report() -> dict[str, Any]:
    """For each model the original project used: cached snapshot folder and size, or None."""
    cache = hf_cache_dir()
    report = {}
    for role, ref in KNOWN_MODELS.items():
        snapshot = cached_snapshot(ref, cache=cache)
        report[role] = {
            "ref": ref,
            "path": str(snapshot) if snapshot else None,
            "bytes": folder_size(snapshot) if snapshot else 0,
        }
    return report


def collect() -> dict[str, Any]:
    """Everything ``avstudio doctor`` reports, as a JSON-serialisable dict.

    Returns
    -------
    dict
        ``python``, ``platform``, ``torch`` (see :func:`torch_report`),
        ``packages`` (import name -> version or None), ``hf_cache`` (path and
        whether it exists), ``hf_offline`` and ``models`` (see :func:`model_report`).
    """
    import os

    cache = hf_cache_dir()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch": torch_report(),
        "packages": {name: package_version(*dists) for name, dists in PACKAGES.items()},
        "hf_cache": {"path": str(cache), "exists": cache.is_dir()},
        "hf_offline": os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False"),
        "models": model_report(),
    }
