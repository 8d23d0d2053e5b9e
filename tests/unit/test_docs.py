"""Templates and the README's manifest reference are generated from the schema and kept in sync."""

from pathlib import Path

import tomlkit

from avstudio.workspace.manifest import parse_manifest
from avstudio.workspace.sections import sections_for
from avstudio.workspace.templates import manifest_reference, render_manifest

ROOT = Path(__file__).resolve().parents[2]


def test_templates_are_generated_from_the_schema():
    for template in ("sonify", "bad-apple"):
        committed = (ROOT / "templates" / template / "avstudio.toml").read_text()
        assert committed == render_manifest(template), f"regenerate templates/{template}/avstudio.toml"
        assert (ROOT / "templates" / template / "README.md").is_file()


def test_every_key_is_documented_and_the_template_validates():
    for template in ("sonify", "bad-apple"):
        text = render_manifest(template)
        manifest = parse_manifest(text.replace('"VIDEO"', '"clip.mp4"'), ROOT / "avstudio.toml")
        for name, section in sections_for(template).items():
            assert f"[{name}]" in text
            for key, field in section.fields.items():
                written = f"[{name}.{key}]" if field.kind == "str_map" else f"{key} ="
                assert written in text, f"{name}.{key} missing from the {template} template"
                assert key in manifest.params[name]


def test_readme_manifest_reference_is_current():
    readme = (ROOT / "README.md").read_text()
    assert manifest_reference() in readme, "regenerate the README's manifest reference"


def test_comments_survive_a_write(tmp_path):
    text = render_manifest("bad-apple").replace('"VIDEO"', '"clip.mp4"').replace(
        "[paint]", "# my own note\n[paint]")
    path = tmp_path / "avstudio.toml"
    path.write_text(text)
    manifest = parse_manifest(text, path)
    manifest.set("paint.checkpoint", "mapper-1")
    after = path.read_text()
    assert "# my own note" in after and 'checkpoint = "mapper-1"' in after
    assert tomlkit.parse(after)["paint"]["checkpoint"] == "mapper-1"
