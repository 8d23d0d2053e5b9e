"""Segments: keyframes bound their length, workers get them longest first, and painting them in any
grouping gives the same frames."""

from __future__ import annotations

import numpy as np
import pytest

from avstudio.render.base import FramePlan
from avstudio.render.resume import ChunkSpool
from avstudio.render.segments import add_keyframes, assign, paint_segments, split


def plans_with(cuts: list[int], n: int, *, seed: int = 0) -> list[FramePlan]:
    rng = np.random.default_rng(seed)
    return [FramePlan(rng.standard_normal(4).astype(np.float32), cut=i in cuts, strength=float(rng.uniform(0.3, 1)),
                      polarity=1) for i in range(n)]


def test_keyframes_bound_every_segment():
    plans = plans_with([0, 10, 11, 90], 130)
    for limit in (1, 7, 25, 60):
        keyed = add_keyframes(plans, limit)
        lengths = [b - a for a, b in split(keyed)]
        assert max(lengths) <= limit and sum(lengths) == 130
        # only frames that end a too-long chain become cuts; the music's cuts stay
        assert all(k.cut for p, k in zip(plans, keyed) if p.cut)
        assert all(k.strength == 1.0 for p, k in zip(plans, keyed) if k.cut and not p.cut)
    assert [b - a for a, b in split(add_keyframes(plans, 25))] == [10, 1, 25, 25, 25, 4, 25, 15]
    assert add_keyframes(plans, 0) == plans


def test_split_and_assign():
    plans = plans_with([0, 3, 4, 12], 20)
    assert split(plans) == [(0, 3), (3, 4), (4, 12), (12, 20)]
    shares = assign(split(plans), 2)
    assert shares == [[(4, 12), (0, 3)], [(12, 20), (3, 4)]]  # longest first, to the least loaded
    assert assign(split(plans), 1) == [[(4, 12), (12, 20), (0, 3), (3, 4)]]
    assert assign(split(plans), 5)[4] == []


class Chain:
    """A renderer whose frame depends on its plan, its seed index and the previous frame (like sd15);
    it batches frames whose strength rounds alike, and counts its calls."""

    name, config, size = "chain", {}, (4, 2)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def batch_key(self, plan, has_previous):
        return round(plan.strength, 1) if has_previous and not plan.cut else "cut"

    def render_many(self, items):
        self.calls.append(len(items))
        out = []
        for plan, previous, index in items:
            base = np.zeros((2, 4, 3)) if plan.cut or previous is None else previous.astype(float)
            value = (base * 0.5 + (index * 37 + plan.embedding.sum() * 10) % 128) % 256
            out.append(value.astype(np.uint8))
        return out

    def render(self, plans, previous, *, start):
        frames = []
        for i, plan in enumerate(plans):
            frames.append(self.render_many([(plan, previous, start + i)])[0])
            previous = frames[-1]
        return np.stack(frames)


@pytest.mark.parametrize("batch", [2, 4, 16])
def test_any_batch_and_order_gives_the_frames_of_one_chain(tmp_path, batch):
    plans = add_keyframes(plans_with([0, 30, 31, 77], 120), 16)
    reference = Chain().render(plans, None, start=0)
    spool = ChunkSpool(tmp_path / "resume", "a" * 24 + str(batch), frame_shape=(2, 4, 3))
    renderer = Chain()
    seen = []
    resumed = paint_segments(plans, renderer, spool, assign(split(plans), 1)[0], batch=batch, chunk=5,
                             progress=seen.append)
    assert resumed == 0 and seen[0] == 0 and seen[-1] == 120
    np.testing.assert_array_equal(np.concatenate(list(spool.read(120))), reference)
    assert max(renderer.calls) == min(batch, len(split(plans))) > 1  # several segments' frames in one call
    assert sum(renderer.calls) == 120


def test_a_resumed_segment_continues_its_chain(tmp_path):
    plans = add_keyframes(plans_with([0], 40), 12)
    reference = Chain().render(plans, None, start=0)
    spool = ChunkSpool(tmp_path / "resume", "b" * 24, frame_shape=(2, 4, 3))
    segments = split(plans)
    paint_segments(plans, Chain(), spool, segments[:2], chunk=5)  # two segments, then "killed"
    spool.write(24, reference[24:29])  # and the first chunk of the third
    renderer = Chain()
    resumed = paint_segments(plans, renderer, spool, segments, batch=3, chunk=5)
    assert resumed == 24 + 5 and sum(renderer.calls) == 40 - 29
    np.testing.assert_array_equal(np.concatenate(list(spool.read(40))), reference)


def test_frames_painted_before_a_failure_are_kept(tmp_path):
    """Out of GPU memory at a larger batch: every frame already painted is spooled, none is repainted."""
    from avstudio.errors import ModelError

    plans = add_keyframes(plans_with([0], 40), 10)
    reference = Chain().render(plans, None, start=0)
    spool = ChunkSpool(tmp_path / "resume", "f" * 24, frame_shape=(2, 4, 3))
    failing = Chain()
    original = failing.render_many

    def render_many(items):
        if len(failing.calls) == 6:
            raise ModelError("GPU out of memory while painting", hint="lower render.batch")
        return original(items)

    failing.render_many = render_many
    with pytest.raises(ModelError):
        paint_segments(plans, failing, spool, split(plans), batch=4, chunk=8)
    painted = sum(failing.calls)
    assert painted > 6 and spool.painted() == painted  # none held back in memory is lost
    renderer = Chain()
    paint_segments(plans, renderer, spool, split(plans), batch=1, chunk=8)
    assert sum(renderer.calls) == 40 - painted
    np.testing.assert_array_equal(np.concatenate(list(spool.read(40))), reference)
