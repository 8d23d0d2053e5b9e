"""The retrieval renderer: paint with real frames of the training video ("video textures").

A regression from sound to picture averages the shapes it cannot predict into
grey. Instead of decoding the prediction, :func:`choose_path` picks, for every
output frame, a frame of the training block, by a Viterbi-style beam search
over candidates (concatenative synthesis). A path pays

* a **target cost**: the squared distance between the candidate's image
  embedding and the mapper's prediction for that frame (in units of the
  library's own variance), plus ``polarity_cost`` when the candidate's scene
  polarity differs from the planned one;
* a **jump cost** whenever it does not play the next frame of the training
  video: ``jump_cost`` in calm passages, ``jump_cost * cut_discount`` on frames
  the temporal plan marks as cuts (strong onsets, polarity switches), so the
  picture keeps the video's own motion between cuts and changes where the
  music cuts;
* a **loop cost** for a jump back to within ``loop_seconds`` of the frame it
  leaves or of the starts of the last two passages played, so a near-constant
  prediction does not replay the same second over and over.

:class:`RetrievalRenderer` then reads the chosen frames and, on a jump that is
not a cut, cross-fades from the previous painted frame by the plan's strength.
Painting depends on earlier chunks only through ``previous``; the path is
planned for the whole clip at once, so chunked or resumed painting equals one
uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from avstudio.errors import ModelError


@dataclass(frozen=True)
class PathConfig:
    """Costs of :func:`choose_path` (see the module docstring)."""

    jump_cost: float = 2.0
    cut_discount: float = 0.1
    polarity_cost: float = 50.0
    audio_weight: float = 1.0
    loop_cost: float = 4.0
    loop_seconds: float = 3.0
    candidates: int = 24
    beam: int = 48


def successors(library_frames: np.ndarray) -> np.ndarray:
    """For each library entry, the position of the next video frame in the library (-1 if absent).

    Parameters
    ----------
    library_frames : np.ndarray [shape=(m,), int]
        Video frame index of each library entry.
    """
    library_frames = np.asarray(library_frames, np.int64)
    where = {int(f): k for k, f in enumerate(library_frames)}
    return np.array([where.get(int(f) + 1, -1) for f in library_frames], np.int64)


def choose_path(pred: np.ndarray, library: np.ndarray, *, library_polarity: np.ndarray, polarity: np.ndarray,
                cuts: np.ndarray, successor: np.ndarray, audio: tuple[np.ndarray, np.ndarray] | None = None,
                loop_frames: int = 0, config: PathConfig = PathConfig()) -> np.ndarray:
    """The library entry to show at every output frame.

    Parameters
    ----------
    pred : np.ndarray [shape=(n, d), float]
        Predicted image embedding per output frame.
    library : np.ndarray [shape=(m, d), float]
        Image embeddings of the library (training) frames.
    audio : (np.ndarray [shape=(n, k)], np.ndarray [shape=(m, k)]), optional
        Audio codes of the output frames and of the library frames: adds
        ``audio_weight`` times their squared distance (in units of the library's
        variance) to the target cost, so the chosen frames come from passages
        that sounded alike (and move alike).
    library_polarity, polarity : np.ndarray [shape=(m,)], [shape=(n,)], int
        Scene polarity (+1/-1) of each library frame and planned for each output frame.
    cuts : np.ndarray [shape=(n,), bool]
        Frames where the temporal plan allows a cheap jump.
    successor : np.ndarray [shape=(m,), int]
        From :func:`successors`.
    loop_frames : int
        ``loop_seconds`` in frames (0: no loop cost).

    Returns
    -------
    np.ndarray [shape=(n,), int64]
        Library positions.
    """
    pred = np.asarray(pred, np.float64)
    lib = np.asarray(library, np.float64)
    n, m = len(pred), len(lib)
    if m == 0:
        raise ModelError("the painter's frame library is empty", hint="retrain with `avstudio run train`")
    if n == 0:
        return np.zeros(0, np.int64)
    scale = max(float(np.mean(np.sum((lib - lib.mean(axis=0)) ** 2, axis=1))), 1e-9)
    lib_sq = np.sum(lib ** 2, axis=1)
    if audio is not None and config.audio_weight > 0:
        query_a, lib_a = (np.asarray(x, np.float64) for x in audio)
        scale_a = max(float(np.mean(np.sum((lib_a - lib_a.mean(axis=0)) ** 2, axis=1))), 1e-9) / config.audio_weight
        lib_a_sq = np.sum(lib_a ** 2, axis=1)
    lib_pol = np.asarray(library_polarity)
    k = min(config.candidates, m)
    states: list[np.ndarray] = []
    backs: list[np.ndarray] = []
    cost = None
    for t in range(n):
        target = (lib_sq - 2 * lib @ pred[t] + pred[t] @ pred[t]) / scale
        if audio is not None and config.audio_weight > 0:
            target = target + (lib_a_sq - 2 * lib_a @ query_a[t] + query_a[t] @ query_a[t]) / scale_a
        target = np.maximum(target, 0.0) + config.polarity_cost * (lib_pol != polarity[t])
        jump = config.jump_cost * (config.cut_discount if cuts[t] else 1.0)
        top = np.argpartition(target, k - 1)[:k] if k < m else np.arange(m)
        if cost is None:
            cand, back, new = top, np.zeros(len(top), np.int64), target[top]
            seg, prev_seg = top.copy(), top.copy()
        else:
            prev = states[-1]
            nxt = successor[prev]
            ok = nxt >= 0
            best_prev = int(np.argmin(cost))
            near = np.zeros(len(top), bool)
            if loop_frames > 0:
                for anchor in (prev[best_prev], seg[best_prev], prev_seg[best_prev]):
                    near |= np.abs(top - anchor) < loop_frames
            cand = np.concatenate([nxt[ok], top])
            back = np.concatenate([np.nonzero(ok)[0], np.full(len(top), best_prev)])
            new = np.concatenate([cost[ok] + target[nxt[ok]],
                                  cost[best_prev] + jump + config.loop_cost * near + target[top]])
            new_seg = np.concatenate([seg[ok], top])
            new_prev_seg = np.concatenate([prev_seg[ok], np.full(len(top), seg[best_prev])])
            order = np.lexsort((new, cand))  # per candidate, cheapest first
            first = np.r_[True, cand[order][1:] != cand[order][:-1]]
            keep = order[first]
            cand, back, new, seg, prev_seg = cand[keep], back[keep], new[keep], new_seg[keep], new_prev_seg[keep]
        if len(cand) > config.beam:
            sel = np.argpartition(new, config.beam - 1)[:config.beam]
            cand, back, new, seg, prev_seg = cand[sel], back[sel], new[sel], seg[sel], prev_seg[sel]
        new = new - new.min()  # keep numbers small over long clips
        states.append(cand)
        backs.append(back)
        cost = new
    path = np.empty(n, np.int64)
    j = int(np.argmin(cost))
    for t in range(n - 1, -1, -1):
        path[t] = states[t][j]
        j = int(backs[t][j])
    return path


class RetrievalRenderer:
    """Paints the library frames the plans name (``FramePlan.source``), cross-fading calm jumps.

    Parameters
    ----------
    frames : sliceable [shape=(N, h, w, 3), uint8]
        The training video's frames (an h5py dataset is fine); ``plan.source``
        indexes its first axis.
    size : tuple of int
        Output ``(width, height)``.
    crossfade : bool
        Blend a jump that is not a cut with the previous painted frame by the
        plan's strength.
    """

    name = "retrieval"

    def __init__(self, frames: Any, size: tuple[int, int], *, crossfade: bool = True) -> None:
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ModelError(f"bad output size {size}", hint="use a positive (width, height)")
        self.frames = frames
        self.size = (width, height)
        self.config: dict[str, Any] = {"crossfade": bool(crossfade)}

    def _read(self, sources: list[int]) -> dict[int, np.ndarray]:
        import cv2

        width, height = self.size
        out = {}
        for s in sorted(set(sources)):
            frame = np.asarray(self.frames[s])
            if frame.shape[:2] != (height, width):
                shrink = frame.shape[1] > width
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            out[s] = frame
        return out

    def render(self, plans: list[Any], previous: np.ndarray | None, *, start: int) -> np.ndarray:
        """Paint a chunk of consecutive frames (see :class:`avstudio.render.base.Renderer`)."""
        import cv2

        width, height = self.size
        out = np.empty((len(plans), height, width, 3), np.uint8)
        frames = self._read([int(p.source) for p in plans])
        for i, plan in enumerate(plans):
            frame = frames[int(plan.source)]
            strength = min(max(float(plan.strength), 0.0), 1.0)
            if self.config["crossfade"] and plan.jump and not plan.cut and previous is not None and strength < 1.0:
                frame = cv2.addWeighted(frame, strength, np.asarray(previous, np.uint8), 1.0 - strength, 0.0)
            out[i] = frame
            previous = out[i]
        return out
