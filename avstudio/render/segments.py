"""Segments: the independent chains of a painted video, the unit of parallel work.

A renderer that paints each frame from the previous one (``sd15``) restarts
its chain at every cut: a cut starts from the solid picture of its polarity,
and frame ``k`` always draws its noise from ``seed + k``. So the frames from
one cut to the next form a **segment** that can be painted on its own, in any
order, on any device, batched with frame ``k`` of other segments, and the
result is the same.

* :func:`add_keyframes` bounds every segment's length (``render.max_segment_seconds``),
  like a video codec's keyframe interval: a calm passage would otherwise be
  one long chain with no parallelism.
* :func:`split` lists the segments of a plan; :func:`assign` hands them to
  workers longest first.
* :func:`paint_segments` paints segments into a chunk spool, batching frames of
  several segments per renderer call; each segment resumes after its last
  spooled chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from avstudio.cancel import NEVER, CancelToken


def add_keyframes(plans: list, max_frames: int) -> list:
    """Make every segment at most ``max_frames`` long by turning frames into cuts.

    Parameters
    ----------
    plans : list of FramePlan
    max_frames : int
        Longest segment; 0 leaves the plans as they are.

    Returns
    -------
    list of FramePlan
        The frame after each ``max_frames`` cut-free frames becomes a cut
        (``strength`` 1.0); nothing else changes.
    """
    if max_frames <= 0:
        return list(plans)
    out, length = [], 0
    for i, plan in enumerate(plans):
        if i == 0 or plan.cut:
            length = 0
        elif length >= max_frames:
            plan, length = replace(plan, cut=True, strength=1.0), 0
        out.append(plan)
        length += 1
    return out


def split(plans: list) -> list[tuple[int, int]]:
    """The segments ``[(start, stop), ...]`` of a plan: each starts at frame 0 or at a cut.

    Examples
    --------
    >>> from avstudio.render.base import FramePlan
    >>> cuts = [True, False, True, False, False]
    >>> split([FramePlan(np.zeros(1), c, 1.0, 1) for c in cuts])
    [(0, 2), (2, 5)]
    """
    starts = [i for i, plan in enumerate(plans) if i == 0 or plan.cut]
    return list(zip(starts, starts[1:] + [len(plans)]))


def assign(segments: list[tuple[int, int]], workers: int) -> list[list[tuple[int, int]]]:
    """Hand segments to ``workers`` longest first, each to the least-loaded worker (ties: lowest rank).

    Deterministic: every worker computes the same assignment on its own.

    Returns
    -------
    list of list of (start, stop)
        Worker ``r``'s segments, longest first.
    """
    load = [0] * max(1, workers)
    shares: list[list[tuple[int, int]]] = [[] for _ in load]
    for seg in sorted(segments, key=lambda s: (s[0] - s[1], s[0])):
        rank = load.index(min(load))
        shares[rank].append(seg)
        load[rank] += seg[1] - seg[0]
    return shares


@dataclass
class _Chain:
    """A segment being painted: its cursor, last frame and frames not yet spooled."""

    start: int
    stop: int
    cursor: int
    previous: np.ndarray | None
    pending: list

    @property
    def chunk_start(self) -> int:
        return self.cursor - len(self.pending)


def paint_segments(
    plans: list,
    renderer: Any,
    spool: Any,
    segments: list[tuple[int, int]],
    *,
    batch: int = 1,
    chunk: int = 32,
    cancel: CancelToken = NEVER,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Paint ``segments`` of ``plans`` into ``spool``, frame ``k`` of up to ``batch`` segments per call.

    Parameters
    ----------
    plans : list of FramePlan
        The whole video's plans (segment bounds index into it).
    renderer : Renderer
        Renderers with ``render_many`` and ``batch_key`` (``sd15``) get several
        segments' frames per call, grouped so that one call only holds frames
        it can batch; others paint one frame per ``render`` call.
    spool : ChunkSpool
        Receives chunks of at most ``chunk`` frames that never cross a segment
        boundary; a segment resumes after its last chunk there.
    segments : list of (start, stop)
        The segments to paint, in the order they are started.
    batch : int
        Segments painted side by side.
    progress : callable, optional
        Receives the frames of ``segments`` done so far (resumed ones included),
        once at the start and after each renderer call.

    Returns
    -------
    int
        Frames that were already in the spool (resumed).
    """
    queue: list[_Chain] = []
    resumed = 0
    for start, stop in segments:
        cursor, previous = spool.resume_point(start, stop)
        resumed += cursor - start
        if cursor < stop:
            queue.append(_Chain(start, stop, cursor, previous, []))
    done = resumed
    if progress:
        progress(done)
    many = hasattr(renderer, "render_many") and hasattr(renderer, "batch_key")
    active: list[_Chain] = []
    pool = batch * 4 if many and batch > 1 else 1  # candidates to group by batch key
    try:
        while queue or active:
            cancel.check()
            while queue and len(active) < pool:
                active.append(queue.pop(0))
            chosen = _pick(active, plans, renderer, batch) if many else active[:1]
            items = [(plans[c.cursor], c.previous, c.cursor) for c in chosen]
            if many:
                frames = renderer.render_many(items)
            else:
                plan, previous, index = items[0]
                frames = list(renderer.render([plan], previous, start=index))
            for c, frame in zip(chosen, frames):
                c.pending.append(frame)
                c.previous = frame
                c.cursor += 1
                if len(c.pending) == chunk or c.cursor == c.stop:
                    spool.write(c.chunk_start, np.stack(c.pending))
                    c.pending = []
            active = [c for c in active if c.cursor < c.stop]
            done += len(chosen)
            if progress:
                progress(done)
    except BaseException:
        # Out of memory, Ctrl-C, a bug: keep every frame painted so far for the next run.
        for c in active:
            if c.pending:
                spool.write(c.chunk_start, np.stack(c.pending))
        raise
    return resumed


def _pick(active: list[_Chain], plans: list, renderer: Any, batch: int) -> list[_Chain]:
    """The largest group of active chains whose next frames share a batch key (earliest chains first)."""
    groups: dict[Any, list[_Chain]] = {}
    for c in active:
        groups.setdefault(renderer.batch_key(plans[c.cursor], c.previous is not None), []).append(c)
    best = max(groups.values(), key=len)
    return best[: max(1, batch)]
