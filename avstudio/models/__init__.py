"""Finding model weights offline and choosing where to run them.

Importing this package never imports torch: :mod:`~avstudio.models.device`
imports it inside its functions.
"""

from avstudio.models.device import dtype_name, oom_guard, pick_device, pick_dtype
from avstudio.models.resolve import (
    KNOWN_MODELS,
    MIRRORS,
    cached_snapshot,
    folder_size,
    hf_cache_dir,
    quiet_loading,
    resolve_model,
)

__all__ = [
    "KNOWN_MODELS",
    "MIRRORS",
    "cached_snapshot",
    "dtype_name",
    "folder_size",
    "hf_cache_dir",
    "oom_guard",
    "pick_device",
    "pick_dtype",
    "quiet_loading",
    "resolve_model",
]
