"""Fingerprints and why-stale explanations."""

from avstudio.pipeline.fingerprint import canonical, explain, file_identity, fingerprint, same

BASE = {
    "version": 1,
    "params": {"features.flow_size": 96, "features.mass_range": [0.0, 100.0]},
    "upstream": {"extract": "abc"},
    "inputs": {"source video": {"path": "/v.mp4", "size": 10, "hash": "h1"}},
}


def changed(**kw):
    parts = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in kw.items():
        section, _, name = key.partition("__")
        if name:
            parts[section] = {**parts[section], name.replace("_DOT_", "."): value}
        else:
            parts[section] = value
    return parts


def test_canonical_is_key_order_independent():
    assert canonical({"b": 1, "a": [1, 2]}) == canonical({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'
    assert fingerprint({"b": 1, "a": 2}) == fingerprint({"a": 2, "b": 1})
    assert len(fingerprint(BASE)) == 64


def test_unchanged_parts_give_no_reason():
    assert explain(BASE, BASE) == []
    assert same(BASE, BASE)


def test_never_run():
    assert explain(None, BASE) == ["never run"]


def test_param_change_is_named_with_values():
    new = changed(params__features_DOT_flow_size=64)
    assert explain(BASE, new) == ["params.features.flow_size changed (96 -> 64)"]
    assert fingerprint(new) != fingerprint(BASE)


def test_upstream_version_and_input_changes():
    assert explain(BASE, changed(upstream__extract="xyz")) == ["upstream extract changed"]
    assert explain(BASE, changed(version=2)) == ["stage version changed (1 -> 2)"]
    moved = changed(**{"inputs__source video": {"path": "/v.mp4", "size": 11, "hash": "h2"}})
    assert explain(BASE, moved) == ["source video changed"]


def test_copied_file_with_same_content_is_unchanged():
    copy = changed(**{"inputs__source video": {"path": "/elsewhere/v.mp4", "size": 10, "hash": "h1"}})
    assert explain(BASE, copy) == []


def test_file_identity_hashes_content(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 5000)
    b.write_bytes(b"x" * 4999 + b"y")
    ia, ib = file_identity(a), file_identity(b)
    assert ia["size"] == ib["size"] == 5000 and ia["hash"] != ib["hash"]
    assert file_identity(tmp_path / "nope")["missing"] is True
