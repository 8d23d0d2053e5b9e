"""Store round trip, schema refusal and crash safety of writes."""

import h5py
import numpy as np
import pytest

from avstudio.errors import StoreError
from avstudio.workspace.layout import Layout
from avstudio.workspace.store import SCHEMA_VERSION, Store, append, chunked_dataset


@pytest.fixture
def store(tmp_path):
    layout = Layout(tmp_path)
    layout.ensure_dirs()
    s = Store(layout)
    s.write_root()
    return s


def test_round_trip_through_root_file(store):
    frames = np.arange(5 * 4 * 6 * 3, dtype=np.uint8).reshape(5, 4, 6, 3)
    with store.write("extract") as g:
        ds = chunked_dataset(g, "frames", (4, 6, 3), np.uint8, rows=2)
        append(ds, frames[:3])
        append(ds, frames[3:])
        g.attrs["fps"] = 25.0
    with store.read("extract") as g:
        np.testing.assert_array_equal(g["frames"][:], frames)
        assert g.attrs["fps"] == 25.0
        assert g["frames"].compression == "lzf" and g["frames"].chunks == (2, 4, 6, 3)
    with store.open_root() as root:
        assert root.attrs["schema_version"] == SCHEMA_VERSION
        np.testing.assert_array_equal(root["extract/frames"][:], frames)


def test_failed_write_keeps_previous_output(store):
    with store.write("features") as g:
        g.create_dataset("brightness", data=np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError):
        with store.write("features") as g:
            g.create_dataset("brightness", data=np.array([9.0, 9.0, 9.0]))
            raise RuntimeError("boom")
    with store.read("features") as g:
        np.testing.assert_array_equal(g["brightness"][:], [1.0, 2.0])
    assert not any(store.layout.tmp_dir.glob("features*"))


def test_reading_a_missing_stage_says_what_to_run(store):
    with pytest.raises(StoreError) as err:
        with store.read("sonify"):
            pass
    assert "avstudio run sonify" in err.value.hint


def test_newer_schema_is_refused(store):
    with h5py.File(store.layout.store, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreError) as err:
        store.check_schema()
    assert "newer avstudio" in err.value.message and "upgrade" in err.value.hint
