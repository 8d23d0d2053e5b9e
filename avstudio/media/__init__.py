"""Media I/O: probe, decode frames, read audio, encode video and audio.

Importing this package is cheap: PyAV, soundfile and soxr are imported inside
the functions that use them. Names are re-exported lazily::

    from avstudio.media import probe, iter_frames, read_audio, VideoWriter

Modules: :mod:`.probe` (MediaInfo, probe, analysis_size), :mod:`.decode`
(iter_frames, bare_decode_count), :mod:`.audio` (AudioTrack, read_audio,
iter_audio, resample), :mod:`.encode` (VideoWriter, mux_audio, write_wav).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MediaInfo": "probe",
    "probe": "probe",
    "analysis_size": "probe",
    "iter_frames": "decode",
    "bare_decode_count": "decode",
    "AudioTrack": "audio",
    "read_audio": "audio",
    "iter_audio": "audio",
    "resample": "audio",
    "VideoWriter": "encode",
    "mux_audio": "encode",
    "write_wav": "encode",
    "read_video_duration": "encode",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
