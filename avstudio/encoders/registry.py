"""Encoders by name, as the manifest's ``[encoders]`` table spells them.

``"builtin"`` picks the built-in encoders (no weights); ``"clap:<model>"`` and
``"clip:<model>"`` pick the neural ones, whose modules (and torch) are imported
only when asked for.
"""

from __future__ import annotations

from typing import Any

from avstudio.encoders.base import AudioEncoder, ImageEncoder
from avstudio.errors import ModelError

KNOWN_AUDIO = ("builtin", "clap:")
KNOWN_IMAGE = ("builtin", "clip:")


def _neural_ref(spec: str, prefix: str, kind: str, hint: str) -> str:
    ref = spec[len(prefix) :].strip()
    if not ref:
        raise ModelError(f"{kind} encoder '{spec}' names no model", hint=hint)
    return ref


def make_audio_encoder(spec: str, **options: Any) -> AudioEncoder:
    """Build the audio encoder a spec names.

    Parameters
    ----------
    spec : str
        ``"builtin"`` or ``"clap:<model id or folder>"``.
    **options
        Passed to the encoder's constructor (e.g. ``window_seconds``; for CLAP
        ``device``, ``batch_size``).

    Raises
    ------
    ModelError
        Unknown spec, or the neural encoder module cannot be imported.
    """
    hint = "use 'builtin' or 'clap:<model id or folder>'"
    spec = spec.strip()
    if spec == "builtin":
        from avstudio.encoders.builtin_audio import BuiltinAudioEncoder

        return BuiltinAudioEncoder(**options)
    if spec.startswith("clap:"):
        ref = _neural_ref(spec, "clap:", "audio", hint)
        try:
            from avstudio.encoders.clap import ClapAudioEncoder
        except ImportError as exc:
            raise ModelError(f"the CLAP encoder is not available ({exc})", hint="use 'builtin'") from exc
        return ClapAudioEncoder(ref, **options)
    raise ModelError(f"unknown audio encoder '{spec}'", hint=hint)


def make_image_encoder(spec: str, **options: Any) -> ImageEncoder:
    """Build the image encoder a spec names.

    Parameters
    ----------
    spec : str
        ``"builtin"`` or ``"clip:<model id or folder>"``.
    **options
        Passed to the encoder's constructor (e.g. ``components``; for CLIP
        ``device``, ``batch_size``).

    Raises
    ------
    ModelError
        Unknown spec, or the neural encoder module cannot be imported.
    """
    hint = "use 'builtin' or 'clip:<model id or folder>'"
    spec = spec.strip()
    if spec == "builtin":
        from avstudio.encoders.builtin_image import BuiltinImageEncoder

        return BuiltinImageEncoder(**options)
    if spec.startswith("clip:"):
        ref = _neural_ref(spec, "clip:", "image", hint)
        try:
            from avstudio.encoders.clip import ClipImageEncoder
        except ImportError as exc:
            raise ModelError(f"the CLIP encoder is not available ({exc})", hint="use 'builtin'") from exc
        return ClipImageEncoder(ref, **options)
    raise ModelError(f"unknown image encoder '{spec}'", hint=hint)
