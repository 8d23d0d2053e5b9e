"""The ``[sonify]`` settings: one dataclass, its validation and its schema.

Every field is a plain TOML type so the manifest's ``[sonify]`` table (and its
``[sonify.map]`` sub-table) maps onto :class:`SonifyConfig` one to one.
:data:`FIELDS` describes each field (type, default, allowed values, one-line
doc); the manifest template and the README reference are generated from it,
see :func:`template`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from avstudio.errors import ManifestError
from avstudio.synth.pitch import SCALES, midi_to_hz

VISUAL_FEATURES = ("brightness", "contrast", "mass", "motion",
                   "red", "green", "blue", "warmth", "saturation", "hue")
AUDIO_FEATURES = ("rms", "onset", "centroid")
FEATURES = VISUAL_FEATURES + AUDIO_FEATURES
"""Feature names a synthesis parameter can follow (plus ``"none"``; prefix ``-`` inverts)."""

NONE = "none"

PARAMS: dict[str, str] = {
    "pitch": "note of the tone, root_note .. root_note + octaves, snapped to the scale",
    "pan": "stereo position, 0 = left, 1 = right (equal power)",
    "harmonics": "spectral tilt: 0 = nearly a sine, 1 = bright and buzzy",
    "cutoff": "low-pass corner, cutoff_hz[0] .. cutoff_hz[1] (log scale)",
    "drone": "level of a sine at root_note, 0 .. drone_level",
    "amplitude": "tone level, amplitude_floor .. 1",
    "density": "tremolo (soft re-articulation): rate 0 .. tremolo_hz, depth 0 .. tremolo_depth",
}
"""Synthesis parameters, each driven by one feature normalised to 0..1, with their meaning."""

NEUTRAL: dict[str, float] = {
    "pitch": 0.5, "pan": 0.5, "harmonics": 0.5, "cutoff": 0.5,
    "drone": 0.0, "amplitude": 1.0, "density": 0.0,
}
"""The 0..1 value a parameter takes when it is mapped to ``"none"``."""

DEFAULT_MAP: dict[str, str] = {
    "pitch": "brightness",
    "pan": "warmth",
    "harmonics": "contrast",
    "cutoff": "contrast",
    "drone": "mass",
    "amplitude": "motion",
    "density": "motion",
}

TOP_FREQUENCY_FRACTION = 0.45
"""The highest note must stay below this fraction of the sample rate."""


class Field(NamedTuple):
    """Schema of one ``[sonify]`` key.

    Attributes
    ----------
    type : type
        ``int``, ``float``, ``str``, ``list`` (two numbers) or ``dict`` (the map).
    default : Any
        Default value, as it would be written in TOML.
    allowed : tuple
        ``(low, high)`` inclusive bounds for ``int``, ``float`` and each element of
        a ``list``; the choices for ``str``; the feature names for ``dict``.
    doc : str
        One line for the template and the README.
    """

    type: type
    default: Any
    allowed: tuple
    doc: str

    @property
    def allowed_text(self) -> str:
        """The allowed values as a human-readable phrase, e.g. ``"8000 .. 192000"``."""
        if self.type is str:
            return "one of " + ", ".join(self.allowed)
        if self.type is dict and not self.default:  # ranges
            return ('a table per feature, e.g. brightness = {lo = "5%", hi = "95%", min_span = 40}: lo and hi '
                    'a percentile ("5%") or a value in the feature\'s units, min_span a value >= 0')
        if self.type is dict:
            return ("each one of " + ", ".join(self.allowed)
                    + " (prefix '-' to invert)")
        low, high = self.allowed
        if self.type is list:
            return f"two increasing numbers in {low} .. {high}"
        return f"{low} .. {high}"


PRESETS: dict[str, dict[str, Any]] = {
    "classic": {},
    "ambient": {"scale": "major", "octaves": 2, "smoothing": 0.4, "min_note_seconds": 0.6,
                "note_hysteresis": 0.5, "partials": 3, "cutoff_hz": [200.0, 2500.0], "drone_level": 0.35,
                "events_level": 0.15, "tremolo_hz": 3.0, "tremolo_depth": 0.25},
    "melodic": {"scale": "major", "octaves": 3, "smoothing": 0.03, "min_note_seconds": 0.2,
                "note_hysteresis": 0.4, "partials": 6, "drone_level": 0.15, "events_level": 0.3,
                "tremolo_depth": 0.3},
    "percussive": {"events_level": 1.2, "min_event_seconds": 0.12, "cut_threshold": 25.0,
                   "amplitude_floor": 0.1, "smoothing": 0.02, "min_note_seconds": 0.08, "partials": 12,
                   "drone_level": 0.1, "tremolo_depth": 0.0},
}
"""``sonify.preset``: the values each preset gives the keys the manifest does not set.

- ``classic``: the defaults of :data:`FIELDS`: a pentatonic tone over three octaves that follows
  brightness in held notes, a quiet drone on dark pictures, hits on cuts and ticks on motion peaks.
- ``ambient``: slow glides between long notes of a major scale over two octaves, a soft, dark timbre
  (3 partials, low-pass 200-2500 Hz), more drone, a slow shallow tremolo and soft events: a pad.
- ``melodic``: a major scale with crisp note changes, a mid-bright tone, little drone and light
  events: a tune in front.
- ``percussive``: loud hits on cuts (a lower cut threshold) and ticks on motion peaks as often as
  every 0.12 s, a short, bright tone that ducks when nothing moves, no tremolo: rhythm in front.
"""

PRESET_KEYS = frozenset(key for values in PRESETS.values() for key in values)
"""Keys some preset sets: the template writes them commented out, so the preset's values apply."""

FIELDS: dict[str, Field] = {
    "preset": Field(str, "classic", ("classic", "ambient", "melodic", "percussive"),
                    "defaults for the commented keys below (a key you write wins); see the README"),
    "sample_rate": Field(int, 44100, (8000, 192000), "output sample rate in Hz"),
    "channels": Field(int, 2, (1, 2), "1 = mono, 2 = stereo (position follows map.pan)"),
    "scale": Field(str, "pentatonic", tuple(SCALES),
                   "notes the pitch snaps to; 'continuous' does not snap"),
    "root_note": Field(int, 45, (12, 96),
                       "lowest note as a MIDI number (45 = A2 = 110 Hz); also the drone's note"),
    "octaves": Field(int, 3, (1, 6), "pitch range above root_note, in octaves"),
    "note_hysteresis": Field(float, 0.3, (0.0, 1.0),
                             "a note changes only when the pitch curve passes the midpoint to the next "
                             "note by this fraction of the step (0 = plain rounding)"),
    "min_note_seconds": Field(float, 0.12, (0.0, 5.0), "shortest note, in seconds (no trills)"),
    "percentiles": Field(list, [5.0, 95.0], (0.0, 100.0),
                         "feature percentiles (over the whole video) that map to 0 and 1"),
    "min_span_scale": Field(float, 1.0, (0.0, 10.0),
                            "scales each feature's minimum span (avstudio.synth.mapping.MIN_SPANS): variation "
                            "below it moves its parameter only a little around its rest value; 0 = stretch any "
                            "variation over the whole range"),
    "smoothing": Field(float, 0.05, (0.0, 2.0),
                       "glide time in seconds of every parameter change (portamento)"),
    "partials": Field(int, 8, (1, 32), "harmonics in the tone (1 = pure sine)"),
    "cutoff_hz": Field(list, [300.0, 8000.0], (20.0, 96000.0),
                       "low-pass corner range in Hz swept by map.cutoff"),
    "drone_level": Field(float, 0.25, (0.0, 1.0),
                         "drone level at full map.drone, relative to the tone (0.25 keeps it under a third of "
                         "the power, so it does not mask the tone's panning)"),
    "amplitude_floor": Field(float, 0.25, (0.0, 1.0),
                             "tone level at map.amplitude = 0, so a still video stays audible"),
    "events_level": Field(float, 0.5, (0.0, 2.0),
                          "level of the percussive notes on scene cuts and motion peaks, relative to the tone "
                          "(0 = no events)"),
    "cut_threshold": Field(float, 40.0, (1.0, 442.0),
                           "a frame whose mean colour moves this far (RGB distance) from the previous one is a cut"),
    "min_event_seconds": Field(float, 0.25, (0.0, 10.0), "least time between two motion-peak events"),
    "tremolo_hz": Field(float, 8.0, (0.0, 30.0), "tremolo rate at full map.density"),
    "tremolo_depth": Field(float, 0.6, (0.0, 1.0), "tremolo depth at full map.density"),
    "fade": Field(float, 0.01, (0.0, 10.0), "fade-in and fade-out at the ends of the track, seconds"),
    "peak_db": Field(float, -1.0, (-60.0, 0.0), "peak level the track never exceeds, in dBFS"),
    "loudness_lufs": Field(float, -16.0, (-40.0, -5.0),
                           "integrated loudness of the track (ITU-R BS.1770, pyloudnorm); peak_db wins "
                           "when both cannot hold"),
    "ranges": Field(dict, {}, FEATURES,
                    "per-feature limits that override percentiles and the built-in minimum span "
                    "([sonify.ranges] table)"),
    "map": Field(dict, dict(DEFAULT_MAP), FEATURES + (NONE,),
                 "synthesis parameter -> feature ([sonify.map] table)"),
}
"""Schema of every ``[sonify]`` key, in template order."""


@dataclasses.dataclass(frozen=True)
class SonifyConfig:
    """Settings of the synthesiser; see :data:`FIELDS` for each field's range.

    Construct it from the manifest with :meth:`from_dict`; direct construction
    validates the same way. ``map`` is complete after construction: every
    parameter in :data:`PARAMS` has a feature or ``"none"``.
    """

    preset: str = "classic"
    sample_rate: int = 44100
    channels: int = 2
    scale: str = "pentatonic"
    root_note: int = 45
    octaves: int = 3
    note_hysteresis: float = 0.3
    min_note_seconds: float = 0.12
    percentiles: tuple[float, float] = (5.0, 95.0)
    min_span_scale: float = 1.0
    smoothing: float = 0.05
    partials: int = 8
    cutoff_hz: tuple[float, float] = (300.0, 8000.0)
    drone_level: float = 0.25
    amplitude_floor: float = 0.25
    events_level: float = 0.5
    cut_threshold: float = 40.0
    min_event_seconds: float = 0.25
    tremolo_hz: float = 8.0
    tremolo_depth: float = 0.6
    fade: float = 0.01
    peak_db: float = -1.0
    loudness_lufs: float = -16.0
    ranges: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    map: dict[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_MAP))

    def __post_init__(self) -> None:
        for name, field in FIELDS.items():
            object.__setattr__(self, name, _checked(name, field, getattr(self, name)))
        top = self.root_note + 12 * self.octaves
        if midi_to_hz(top) >= TOP_FREQUENCY_FRACTION * self.sample_rate:
            raise ManifestError(
                f"sonify.octaves: the top note (MIDI {top}, {midi_to_hz(top):.0f} Hz) must be below "
                f"{TOP_FREQUENCY_FRACTION} x sonify.sample_rate ({self.sample_rate} Hz)",
                hint="lower sonify.root_note or sonify.octaves, or raise sonify.sample_rate")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> SonifyConfig:
        """Validate a ``[sonify]`` table and build the config.

        Missing keys take the value of ``preset`` (:data:`PRESETS`), else their
        defaults; a partial ``map`` keeps the default feature for the
        parameters it does not name.

        Parameters
        ----------
        d : Mapping or None
            The table as parsed (plain dict or tomlkit table).

        Returns
        -------
        SonifyConfig

        Raises
        ------
        ManifestError
            On an unknown key, a wrong type or a value out of range; the message
            names the dotted path (``sonify.scale``, ``sonify.map.pitch``) and the
            allowed values.
        """
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise ManifestError(f"sonify must be a table, got {_kind(d)}",
                                hint="write the settings under a [sonify] header")
        unknown = [key for key in d if key not in FIELDS]
        if unknown:
            raise ManifestError(
                f"unknown key sonify.{unknown[0]}; allowed keys: {', '.join(FIELDS)}",
                hint=f"remove or rename sonify.{unknown[0]}")
        preset = d.get("preset", "classic")
        if preset not in PRESETS:
            raise ManifestError(f"sonify.preset = {preset!r} is not one of {', '.join(PRESETS)}",
                                hint='set sonify.preset = "classic"')
        values = {**PRESETS[preset], **dict(d)}
        if "map" in values:
            given = values["map"]
            if not isinstance(given, Mapping):
                raise ManifestError(f"sonify.map must be a table, got {_kind(given)}",
                                    hint="write the mapping under a [sonify.map] header")
            values["map"] = {**DEFAULT_MAP, **dict(given)}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-serialisable values (lists for pairs), e.g. for fingerprints."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else (
                dict(value) if isinstance(value, dict) else value)
        return out


def template() -> str:
    """Commented TOML for the ``[sonify]`` and ``[sonify.map]`` tables with the defaults.

    Returns
    -------
    str
        Text that parses to the default config.
    """
    lines = ["[sonify]"]
    for name, field in FIELDS.items():
        if field.type is dict:
            continue
        lines.append(f"# {field.doc} ({field.allowed_text})")
        comment = "# " if name in PRESET_KEYS else ""
        lines.append(f"{comment}{name} = {_toml(field.default)}")
    lines += ["", "[sonify.map]",
              f"# {FIELDS['map'].doc}; each value is {FIELDS['map'].allowed_text}"]
    for param, doc in PARAMS.items():
        lines.append(f"# {doc}")
        lines.append(f"{param} = {_toml(DEFAULT_MAP[param])}")
    return "\n".join(lines) + "\n"


def feature_of(source: str) -> tuple[str, bool]:
    """Split a map value into ``(feature, inverted)``; ``"-mass"`` -> ``("mass", True)``."""
    return (source[1:], True) if source.startswith("-") else (source, False)


def _checked(name: str, field: Field, value: Any) -> Any:
    path = f"sonify.{name}"
    if name == "ranges":
        return _checked_ranges(value)
    if field.type is dict:
        return _checked_map(value)
    if field.type is str:
        if not isinstance(value, str):
            raise ManifestError(f"{path} must be a string, {field.allowed_text}; got {_kind(value)}",
                                hint=f"set {path} = {_toml(field.default)}")
        value = str(value)
        if value not in field.allowed:
            raise ManifestError(f"{path} = {value!r} is not {field.allowed_text}",
                                hint=f"set {path} = {_toml(field.default)}")
        return value
    if field.type is list:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ManifestError(f"{path} must be {field.allowed_text}, got {value!r}",
                                hint=f"set {path} = {_toml(field.default)}")
        low, high = (_number(f"{path}[{i}]", float, v, field) for i, v in enumerate(value))
        if not low < high:
            raise ManifestError(f"{path} must be {field.allowed_text}, got {[low, high]}",
                                hint=f"set {path} = {_toml(field.default)}")
        return (low, high)
    return _number(path, field.type, value, field)


def _number(path: str, kind: type, value: Any, field: Field) -> int | float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and ok and not isinstance(value, int):
        ok = False
    if not ok:
        noun = "an integer" if kind is int else "a number"
        raise ManifestError(f"{path} must be {noun} in {field.allowed_text}, got {value!r}",
                            hint=f"set {path} = {_toml(field.default)}")
    value = kind(value)
    low, high = field.allowed
    if not (math.isfinite(value) and low <= value <= high):
        raise ManifestError(f"{path} = {value} is out of range {field.allowed_text}",
                            hint=f"set {path} = {_toml(field.default)}")
    return value


def limit(spec: Any, values: Any) -> float:
    """A range limit: ``"5%"`` is that percentile of ``values``, a number is itself."""
    import numpy as np

    if isinstance(spec, str):
        return float(np.percentile(values, float(spec.rstrip("%"))))
    return float(spec)


def _checked_ranges(value: Any) -> dict[str, dict[str, Any]]:
    hint = 'write e.g. brightness = {lo = "5%", hi = "95%", min_span = 40} under [sonify.ranges]'
    if not isinstance(value, Mapping):
        raise ManifestError(f"sonify.ranges must be a table, got {_kind(value)}", hint=hint)
    out: dict[str, dict[str, Any]] = {}
    for feature, spec in value.items():
        path = f"sonify.ranges.{feature}"
        if feature not in FEATURES:
            raise ManifestError(f"unknown feature {path}; features: {', '.join(FEATURES)}", hint=hint)
        if not isinstance(spec, Mapping) or set(spec) - {"lo", "hi", "min_span"}:
            raise ManifestError(f"{path} must be a table of lo, hi and min_span, got {_kind(spec)}", hint=hint)
        checked: dict[str, Any] = {}
        for key in ("lo", "hi"):
            if key not in spec:
                continue
            v = spec[key]
            if isinstance(v, str):
                try:
                    pct = float(v.strip().rstrip("%")) if v.strip().endswith("%") else float("nan")
                except ValueError:
                    pct = float("nan")
                if not 0.0 <= pct <= 100.0:
                    raise ManifestError(f"{path}.{key} = {v!r} is not a percentile such as \"5%\"", hint=hint)
                checked[key] = f"{pct:g}%"
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                checked[key] = float(v)
            else:
                raise ManifestError(f"{path}.{key} must be a percentile (\"5%\") or a number, got {_kind(v)}",
                                    hint=hint)
        if "min_span" in spec:
            v = spec["min_span"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
                raise ManifestError(f"{path}.min_span must be a number >= 0, got {_kind(v)}", hint=hint)
            checked["min_span"] = float(v)
        out[str(feature)] = checked
    return out


def _checked_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"sonify.map must be a table, got {_kind(value)}",
                            hint="write the mapping under a [sonify.map] header")
    allowed = FIELDS["map"]
    out = dict(DEFAULT_MAP)
    for param, source in value.items():
        if param not in PARAMS:
            raise ManifestError(
                f"unknown key sonify.map.{param}; allowed parameters: {', '.join(PARAMS)}",
                hint=f"remove or rename sonify.map.{param}")
        path = f"sonify.map.{param}"
        if not isinstance(source, str):
            raise ManifestError(f"{path} must be a string, {allowed.allowed_text}; got {_kind(source)}",
                                hint=f'set {path} = "{DEFAULT_MAP[param]}" or "none"')
        source = str(source)
        feature, _ = feature_of(source)
        if feature not in allowed.allowed or source == "-" + NONE:
            raise ManifestError(f"{path} = {source!r} is not a feature; {allowed.allowed_text}",
                                hint=f'set {path} = "{DEFAULT_MAP[param]}" or "none"')
        out[str(param)] = source
    return out


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
