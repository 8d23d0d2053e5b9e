"""The paint spool deletes only what it wrote, throws away chunks that do not fit, and starts over when asked."""

from __future__ import annotations

import numpy as np

from avstudio.render.resume import ChunkSpool

KEY = "0123456789abcdef01234567" + "89" * 20
OLD = "fedcba9876543210fedcba98" + "76" * 20


def frames(n: int, value: int, shape=(6, 8, 3)) -> np.ndarray:
    return np.full((n, *shape), value, np.uint8)


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_spool_folder_that_is_a_link_never_costs_its_target_a_file(tmp_path):
    target = tmp_path / "elsewhere"
    for sub in ("photos/2024", "fedcba9876543210fedcba98"):
        (target / sub).mkdir(parents=True)
    (target / "photos/2024/a.jpg").write_bytes(b"jpg")
    (target / "fedcba9876543210fedcba98/notes.txt").write_text("mine, in a folder named like a key")
    (target / "fedcba9876543210fedcba98/chunk-000000000.npy").write_bytes(b"x")  # the spool's kind of file
    (target / "link-to-photos").symlink_to(target / "photos", target_is_directory=True)
    before = tree(target)
    root = tmp_path / "resume" / "paint"
    root.parent.mkdir()
    root.symlink_to(target, target_is_directory=True)

    spool = ChunkSpool(root, OLD[:12] + KEY[12:], frame_shape=(6, 8, 3))  # another key: stale folders go
    spool.write(0, frames(4, 1))
    spool.discard()
    after = tree(target)
    assert "photos/2024/a.jpg" in after and "link-to-photos" in after
    assert "fedcba9876543210fedcba98/notes.txt" in after
    # only the chunk file the spool could have written went, from the stale key folder it could not remove
    assert set(before) - set(after) == {"fedcba9876543210fedcba98/chunk-000000000.npy"}
    assert set(after) - set(before) == set() and root.is_symlink()


def test_a_key_folder_that_is_a_link_is_unlinked_not_emptied(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "chunk-000000000.npy").write_bytes(b"not ours")
    root = tmp_path / "resume"
    root.mkdir()
    (root / OLD[:24]).symlink_to(target, target_is_directory=True)
    ChunkSpool(root, KEY)
    assert not (root / OLD[:24]).exists() and (target / "chunk-000000000.npy").read_bytes() == b"not ours"


def test_chunks_that_do_not_fit_are_discarded_with_those_after_them(tmp_path):
    spool = ChunkSpool(tmp_path, KEY, frame_shape=(6, 8, 3))
    spool.write(0, frames(4, 10))
    spool.write(4, frames(4, 20, shape=(7, 8, 3)))  # another frame size (render.width changed by hand...)
    spool.write(8, frames(4, 30))
    assert spool.resume_point()[0] == 4
    assert spool.starts() == [0]
    np.testing.assert_array_equal(spool.resume_point()[1], frames(1, 10)[0])

    spool.write(4, frames(4, 20))
    (spool.dir / "chunk-000000008.npy").write_bytes(b"\x93NUMPY damaged")
    assert spool.resume_point()[0] == 8 and spool.starts() == [0, 4]
    np.save(spool.dir / "chunk-000000008.npy", frames(4, 30).astype(np.float32))  # another dtype
    assert spool.resume_point()[0] == 8 and spool.starts() == [0, 4]
    spool.write(8, frames(4, 30))
    assert [int(b[0, 0, 0, 0]) for b in spool.read(12)] == [10, 20, 30]


def test_fresh_discards_the_chunks_of_the_same_key(tmp_path):
    ChunkSpool(tmp_path, KEY, frame_shape=(6, 8, 3)).write(0, frames(4, 10))
    assert ChunkSpool(tmp_path, KEY, frame_shape=(6, 8, 3)).resume_point()[0] == 4
    forced = ChunkSpool(tmp_path, KEY, frame_shape=(6, 8, 3), fresh=True)
    assert forced.resume_point() == (0, None) and forced.starts() == []
