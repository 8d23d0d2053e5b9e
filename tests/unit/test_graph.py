"""The planner as a pure function over small drawn graphs."""

import pytest

from avstudio.errors import StageError
from avstudio.pipeline import graph

#   extract -> features -> sonify -> assemble
#                      \-> embed -> train -> paint
DEPS = {
    "extract": (),
    "features": ("extract",),
    "sonify": ("features",),
    "assemble": ("sonify",),
    "embed": ("features",),
    "train": ("embed",),
    "paint": ("train", "embed"),
}


def test_all_stages_in_post_order():
    order = graph.plan(DEPS)
    assert order == ["extract", "features", "sonify", "assemble", "embed", "train", "paint"]
    for stage, deps in DEPS.items():
        assert all(order.index(d) < order.index(stage) for d in deps)


def test_target_pulls_only_its_ancestors():
    assert graph.plan(DEPS, ["sonify"]) == ["extract", "features", "sonify"]
    assert graph.plan(DEPS, ["paint"]) == ["extract", "features", "embed", "train", "paint"]


def test_downstream_adds_dependents_and_their_ancestors():
    assert graph.plan(DEPS, ["embed"], downstream=True) == ["extract", "features", "embed", "train", "paint"]
    assert graph.plan(DEPS, ["sonify"], downstream=True) == ["extract", "features", "sonify", "assemble"]


def test_forced_set():
    assert graph.forced(DEPS, ["train"], force=True, downstream=False) == {"train"}
    assert graph.forced(DEPS, ["train"], force=True, downstream=True) == {"train", "paint"}
    assert graph.forced(DEPS, [], force=True, downstream=False) == set(DEPS)
    assert graph.forced(DEPS, ["train"], force=False, downstream=True) == set()


def test_unknown_target_names_the_stages():
    with pytest.raises(StageError) as err:
        graph.plan(DEPS, ["trian"])
    assert "trian" in err.value.message and "train" in err.value.hint


def test_cycle_is_reported():
    with pytest.raises(StageError, match="cycle"):
        graph.topological({"a": ("b",), "b": ("a",)})


def test_descendants_and_ancestors():
    assert graph.descendants(DEPS, "embed") == {"train", "paint"}
    assert graph.ancestors(DEPS, "paint") == {"train", "embed", "features", "extract"}
