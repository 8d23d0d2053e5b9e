"""The manifest schema: every table, key, type, default, allowed values and doc line.

One declarative description serves three purposes: validating a hand-edited
``avstudio.toml`` (errors name the dotted key and the allowed values), filling
defaults, and generating the manifest reference in the README.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

from avstudio.errors import ManifestError


@dataclass(frozen=True)
class Field:
    """One manifest key.

    Parameters
    ----------
    kind : str
        ``int``, ``float``, ``str``, ``bool``, ``choice``, ``pair`` (two numbers),
        ``int_or_source``/``float_or_source`` (a number or the string "source"),
        ``str_map`` (a table of string -> string, e.g. ``[sonify.map]``),
        ``devices`` (``""``, ``"all"`` or a list of device names such as ``["cuda:0", "cuda:1"]``).
    default : Any
        Value used when the key is absent (``None``: optional, no value).
    doc : str
        One line, shown in templates and the README.
    lo, hi : float, optional
        Inclusive numeric range.
    choices : tuple, optional
        Allowed values for ``choice`` (and allowed map values for ``str_map``).
    keys : tuple, optional
        Allowed keys for ``str_map``.
    """

    kind: str
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    keys: tuple | None = None
    allowed_text: str | None = None
    commented: bool = False
    """Written commented out in templates (a preset or another key supplies its value)."""

    def allowed(self) -> str:
        """Human description of the allowed values."""
        if self.allowed_text:
            return self.allowed_text
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices or ())
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return "a string"
        if self.kind == "devices":
            return '"" (one device), "all" (every GPU) or a list such as ["cuda:0", "cuda:1"]'
        if self.kind == "str_map":
            return f"a table mapping {', '.join(self.keys or ())} to one of {', '.join(self.choices or ())}"
        rng = self._range()
        if self.kind == "pair":
            return f"a list of two numbers{rng}"
        if self.kind.endswith("_or_source"):
            return f"\"source\" or a number{rng}"
        return f"{'an integer' if self.kind == 'int' else 'a number'}{rng}"

    def _range(self) -> str:
        lo, hi = _num(self.lo), _num(self.hi)
        if lo is not None and hi is not None:
            return f" in {lo}..{hi}"
        if lo is not None:
            return f" >= {lo}"
        if hi is not None:
            return f" <= {hi}"
        return ""

    def check(self, path: str, value: Any) -> Any:
        """Validate ``value`` for the key ``path``; return it normalised."""

        def bad(what: str) -> ManifestError:
            return ManifestError(
                f"manifest: {path} = {value!r} {what}", hint=f"allowed: {self.allowed()}"
            )

        kind = self.kind
        if kind.endswith("_or_source"):
            if value == "source":
                return value
            kind = kind.removesuffix("_or_source")
        if kind == "bool":
            if not isinstance(value, bool):
                raise bad("is not true/false")
            return value
        if kind in ("str", "choice"):
            if not isinstance(value, str):
                raise bad("is not a string")
            if kind == "choice" and value not in (self.choices or ()):
                raise bad("is not allowed")
            return value
        if kind == "devices":
            if value in ("", "all"):
                return value
            if (not isinstance(value, list) or not value
                    or not all(isinstance(v, str) and v.strip() for v in value)):
                raise bad("is not a list of device names")
            return [v.strip() for v in value]
        if kind == "str_map":
            if not isinstance(value, dict):
                raise bad("is not a table")
            out = {}
            for k, v in value.items():
                if self.keys and k not in self.keys:
                    raise ManifestError(
                        f"manifest: unknown key {path}.{k}", hint=f"allowed keys: {', '.join(self.keys)}"
                    )
                if not isinstance(v, str) or (self.choices and v not in self.choices):
                    raise ManifestError(
                        f"manifest: {path}.{k} = {v!r} is not allowed",
                        hint=f"allowed: {', '.join(self.choices or ())}",
                    )
                out[k] = v
            return {**(self.default or {}), **out}
        if kind == "pair":
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(_is_number(v) for v in value)
            ):
                raise bad("is not a list of two numbers")
            for v in value:
                self._check_range(v, bad)
            if value[0] > value[1]:
                raise bad("has its first value above its second")
            return [float(v) for v in value]
        if kind == "int":
            if not (isinstance(value, int) and not isinstance(value, bool)):
                raise bad("is not an integer")
        elif kind == "float":
            if not _is_number(value):
                raise bad("is not a number")
            value = float(value)
        else:  # pragma: no cover - schema bug
            raise AssertionError(kind)
        self._check_range(value, bad)
        return value

    def _check_range(self, v: float, bad: Callable[[str], ManifestError]) -> None:
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise bad("is out of range")


def _num(v: float | None) -> str | None:
    if v is None:
        return None
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


@dataclass(frozen=True)
class Section:
    """One ``[table]`` of the manifest."""

    name: str
    doc: str
    fields: dict[str, Field]
    templates: tuple[str, ...] = ("sonify", "bad-apple")
    validator: Callable[[dict], dict] | None = field(default=None, compare=False)
    """Owned by a computation: validates the whole table and returns it with defaults."""


def validate_table(section: Section, table: Any) -> dict[str, Any]:
    """Validate one table and fill its defaults."""
    if not isinstance(table, dict):
        raise ManifestError(
            f"manifest: {section.name} must be a table", hint=f"write it as [{section.name}]"
        )
    if section.validator is not None:
        return section.validator(table)
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in section.fields:
            close = difflib.get_close_matches(key, section.fields, n=1)
            hint = f"did you mean {section.name}.{close[0]}? " if close else ""
            raise ManifestError(
                f"manifest: unknown key {section.name}.{key}",
                hint=f"{hint}allowed keys in [{section.name}]: {', '.join(section.fields)}",
            )
        out[key] = section.fields[key].check(f"{section.name}.{key}", value)
    for key, fld in section.fields.items():
        out.setdefault(key, fld.default)
    return out


def validate(doc: dict[str, Any], sections: dict[str, Section]) -> dict[str, dict[str, Any]]:
    """Validate a whole manifest (a plain dict) and fill defaults.

    Returns
    -------
    dict
        ``{table: {key: value}}`` with every key of every section present.
    """
    params: dict[str, dict[str, Any]] = {}
    for name, table in doc.items():
        if name not in sections:
            close = difflib.get_close_matches(name, sections, n=1)
            hint = f"did you mean [{close[0]}]? " if close else ""
            raise ManifestError(
                f"manifest: unknown table [{name}]",
                hint=f"{hint}allowed tables: {', '.join(sections)}",
            )
    for name, section in sections.items():
        params[name] = validate_table(section, doc.get(name, {}))
    return params


def flatten(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"sonify": {"scale": "major"}}`` -> ``{"sonify.scale": "major"}`` (maps stay values)."""
    return {f"{t}.{k}": v for t, table in params.items() for k, v in table.items()}
