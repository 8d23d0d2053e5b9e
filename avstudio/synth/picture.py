"""``outputs/sonify.png``: what the sonification heard and played, on one time axis.

Three bands, top to bottom, all spanning the video's duration:

1. the features, each scaled to its own range (its name says min..max), with
   scene cuts as red lines and motion events as short ticks;
2. the synthesis parameters they drive (0..1), the tone's notes as steps;
3. a spectrogram of the result (log frequency 50 Hz .. 8 kHz, 70 dB range).

Drawn with OpenCV on the evaluation sheet's palette
(:mod:`avstudio.evaluate.sheet`), so no plotting library is needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

WIDTH = 1200
BAND = 150
LABEL = 190


def sonify_picture(features: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray], notes: np.ndarray,
                   events: list, samples: np.ndarray, sample_rate: int, *, fps: float) -> np.ndarray:
    """The picture [shape=(h, WIDTH, 3), uint8].

    Parameters
    ----------
    features : mapping of str to np.ndarray [shape=(n,)]
        Scalar features per frame (those with one value per frame are drawn).
    params : mapping of str to np.ndarray [shape=(n,)]
        0..1 synthesis parameters per frame.
    notes : np.ndarray [shape=(n,)]
        MIDI note per frame.
    events : list of Event
    samples : array-like [shape=(m, channels), float32]
        The track: an array or an HDF5 dataset (only the spectrogram's windows are read).
    """
    from avstudio.evaluate.sheet import BACKGROUND

    n = len(notes)
    curves = {k: np.asarray(v, float) for k, v in features.items() if np.ndim(v) == 1 and len(v) == n}
    bands = [
        _curves_band("features", curves, events, n, normalise=True),
        _curves_band("parameters", {**{k: np.asarray(v, float) for k, v in params.items()},
                                    "note": _scaled(np.asarray(notes, float))}, events, n, normalise=False),
        _spectrogram_band(samples, sample_rate, duration=n / fps),
    ]
    out = np.empty((sum(b.shape[0] for b in bands) + 8 * (len(bands) - 1), WIDTH, 3), np.uint8)
    out[:] = BACKGROUND
    y = 0
    for band in bands:
        out[y:y + band.shape[0]] = band
        y += band.shape[0] + 8
    return out


def _scaled(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.full_like(values, 0.5)


def _curves_band(title: str, curves: Mapping[str, np.ndarray], events: list, n: int, *,
                 normalise: bool) -> np.ndarray:
    import cv2

    from avstudio.evaluate.sheet import AXES, BACKGROUND, GRID, PALETTE, _put

    rows = max(1, len(curves))
    height = max(BAND, 16 * rows + 24)
    img = np.empty((height, WIDTH, 3), np.uint8)
    img[:] = BACKGROUND
    plot_w, top, bottom = WIDTH - LABEL - 10, 20, height - 6
    x0 = LABEL
    _put(img, title, 6, 2, color=AXES)
    cv2.rectangle(img, (x0, top), (x0 + plot_w, bottom), GRID, 1)

    def x_of(frame: float) -> int:
        return int(x0 + plot_w * frame / max(1, n - 1))

    for event in events:
        color = (214, 39, 40) if event.kind == "cut" else (127, 127, 127)
        x = x_of(event.frame)
        cv2.line(img, (x, top if event.kind == "cut" else bottom - 8), (x, bottom), color, 1)
    xs = np.array([x_of(k) for k in range(n)])
    for i, (name, values) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        shown = _scaled(values) if normalise else np.clip(values, 0, 1)
        ys = (bottom - 2 - shown * (bottom - top - 4)).astype(int)
        cv2.polylines(img, [np.stack([xs, ys], axis=1).astype(np.int32)], False, color, 1, cv2.LINE_AA)
        label = f"{name} {values.min():.3g}..{values.max():.3g}" if normalise else name
        _put(img, label, 6, top + 2 + 16 * i, color=color)
    return img


def _spectrogram_band(samples: np.ndarray, sample_rate: int, *, duration: float) -> np.ndarray:
    import cv2

    from avstudio.evaluate.sheet import AXES, BACKGROUND, _put

    plot_w, height = WIDTH - LABEL - 10, 2 * BAND
    img = np.empty((height, WIDTH, 3), np.uint8)
    img[:] = BACKGROUND
    _put(img, "spectrogram", 6, 2, color=AXES)
    _put(img, f"50 Hz .. 8 kHz, {duration:.1f} s", 6, 20, color=AXES)
    nfft = 2048
    if len(samples) < nfft:
        return img
    hop = max(nfft // 4, (len(samples) - nfft) // plot_w)
    starts = np.arange(0, len(samples) - nfft + 1, hop)
    window = np.hanning(nfft).astype(np.float32)

    def mono(s: int) -> np.ndarray:
        part = np.asarray(samples[s:s + nfft], np.float32)
        return part.mean(axis=1) if part.ndim == 2 else part

    power = np.abs(np.fft.rfft(np.stack([mono(s) * window for s in starts]), axis=1)) ** 2
    db = 10 * np.log10(power + 1e-12)
    db = np.clip((db - (db.max() - 70)) / 70, 0, 1)
    freqs = np.fft.rfftfreq(nfft, 1 / sample_rate)
    rows = np.geomspace(8000, 50, height - 24)
    column = np.stack([np.interp(rows, freqs, frame) for frame in db], axis=1)
    picture = cv2.applyColorMap((column * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)[:, :, ::-1]
    img[20:height - 4, LABEL:LABEL + plot_w] = cv2.resize(picture, (plot_w, height - 24),
                                                          interpolation=cv2.INTER_AREA)
    return img
