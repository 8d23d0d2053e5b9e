"""Planning over the stage dependency graph (pure functions, DVC's reproduce)."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from avstudio.errors import StageError


def ancestors(deps: Mapping[str, Sequence[str]], stage: str) -> set[str]:
    """Every stage ``stage`` depends on, directly or not."""
    seen: set[str] = set()
    stack = list(deps[stage])
    while stack:
        s = stack.pop()
        if s not in seen:
            seen.add(s)
            stack.extend(deps[s])
    return seen


def descendants(deps: Mapping[str, Sequence[str]], stage: str) -> set[str]:
    """Every stage that depends on ``stage``, directly or not."""
    return {s for s in deps if stage in ancestors(deps, s)}


def topological(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """All stages in post-order (dependencies first; ties keep declaration order)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(s: str, path: tuple[str, ...]) -> None:
        if state.get(s) == 2:
            return
        if state.get(s) == 1:
            raise StageError(f"dependency cycle: {' -> '.join(path + (s,))}")
        state[s] = 1
        for d in deps[s]:
            if d not in deps:
                raise StageError(f"stage {s} depends on unknown stage {d}")
            visit(d, path + (s,))
        state[s] = 2
        order.append(s)

    for s in deps:
        visit(s, ())
    return order


def check_targets(deps: Mapping[str, Sequence[str]], targets: Iterable[str]) -> list[str]:
    """Validate stage names given on the command line."""
    targets = list(targets)
    unknown = [t for t in targets if t not in deps]
    if unknown:
        raise StageError(
            f"unknown stage {unknown[0]!r}", hint=f"stages of this workspace: {', '.join(deps)}"
        )
    return targets


def plan(
    deps: Mapping[str, Sequence[str]],
    targets: Sequence[str] = (),
    *,
    downstream: bool = False,
) -> list[str]:
    """The stages to consider for a run, in execution order.

    Parameters
    ----------
    deps : mapping
        ``{stage: (upstream stages...)}``.
    targets : sequence of str
        Stages asked for; empty means all.
    downstream : bool
        Also include everything that depends on the targets.

    Returns
    -------
    list of str
        The targets, their ancestors (and with ``downstream`` their descendants
        and those descendants' other ancestors), in post-order. Whether each
        actually runs is decided when its turn comes (it may be fresh).
    """
    check_targets(deps, targets)
    wanted = set(targets or deps)
    if downstream:
        for t in list(wanted):
            wanted |= descendants(deps, t)
    closure = set(wanted)
    for t in wanted:
        closure |= ancestors(deps, t)
    return [s for s in topological(deps) if s in closure]


def forced(deps: Mapping[str, Sequence[str]], targets: Sequence[str], *, force: bool, downstream: bool) -> set[str]:
    """Stages ``--force`` reruns: the targets (all stages if none), plus descendants with ``--downstream``."""
    if not force:
        return set()
    chosen = set(targets or deps)
    if downstream:
        for t in list(chosen):
            chosen |= descendants(deps, t)
    return chosen
