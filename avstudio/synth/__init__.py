"""Sonification: per-frame visual (and audio) features become a track.

Light to import (numpy only). The signal chain, per video frame and then per
sample:

1. :mod:`~avstudio.synth.mapping` - each synthesis parameter (pitch, pan,
   harmonics, cutoff, drone, amplitude, density) follows one feature from
   ``[sonify.map]``, normalised to 0..1 by its 5th/95th percentiles over the
   whole video (or ``[sonify.ranges]`` limits) but never over less than its
   minimum span (a constant feature rests at the parameter's rest value).
2. :mod:`~avstudio.synth.control` - pitch is snapped to the scale, then every
   parameter glides (zero-phase Gaussian across frames, 10-90 % in
   ``smoothing`` seconds) and becomes concrete settings: fundamental in Hz,
   harmonic weights (tilt, low-pass, anti-alias fade), channel gains (equal
   power pan), drone level, tremolo rate and depth. Samples between frame
   centres follow a smoothstep, so no setting ever steps.
3. :mod:`~avstudio.synth.oscillators` - one continuous float64 phase (carried
   across chunks) drives every harmonic through a recurrence; a drone sine at
   the root note; a raised-cosine tremolo; raised-cosine fades at both ends.
4. :mod:`~avstudio.synth.synth` - :class:`Synth` renders fixed 8192-sample
   blocks from sample 0 and re-slices them into per-frame-range chunks, so any
   chunking is bit-identical to one render; :func:`loudness_gain` brings the
   un-normalised output to ``loudness_lufs`` (ITU-R BS.1770 via pyloudnorm)
   and :func:`peak_gain` caps it at ``peak_db``.

:mod:`~avstudio.synth.config` holds :class:`SonifyConfig` and :data:`FIELDS`
(the ``[sonify]`` schema); :mod:`~avstudio.synth.timing` the exact
frame/sample arithmetic.
"""

from avstudio.synth.config import FEATURES, FIELDS, PARAMS, SonifyConfig, template
from avstudio.synth.synth import Synth, loudness_gain, peak_gain
from avstudio.synth.timing import n_samples

__all__ = ["FEATURES", "FIELDS", "PARAMS", "SonifyConfig", "Synth", "loudness_gain", "n_samples", "peak_gain",
           "template"]
