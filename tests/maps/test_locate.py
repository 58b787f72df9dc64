"""Query by example (``gesam locate``): real drum recordings go through training's reading and
preparation, land on the map where the VAE puts them, and name their nearest training sounds;
a file that is not audio gets a clear error and the others are still located."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.cli.main import main
from gesam_engine.data.corpus import encode_file
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.locate import Location, locate
from tests.tiny import tiny_model

KIT = Path("/usr/share/hydrogen/data/drumkits/Audiophob")
pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian's hydrogen-drumkits is not installed")


@pytest.fixture(scope="module")
def located_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A tiny model whose training set is three real files (their points in map/points.json)."""
    model = tiny_model(0.25)
    pre = {"sample_rate": model.codec.sample_rate, "duration_s": 0.25}
    model.card["settings"] = {"preprocess": pre}
    files = sorted(KIT.glob("*.wav"))[:3]
    frames = np.stack([encode_file(f, model.codec, PreprocessConfig(**pre)) for f in files])  # type: ignore[arg-type]
    points = model.encode_points(frames)
    directory = tmp_path_factory.mktemp("locate") / "model"
    doc = {"points": points.tolist(), "labels": ["tom", "hihat", "hihat"], "files": [f.name for f in files]}
    model.save(directory, extra_files={"map/points.json": json.dumps(doc).encode()})
    return directory, files


def test_a_training_file_lands_on_its_own_point_and_names_itself_nearest(located_model) -> None:
    directory, files = located_model
    model = GesamModel.load(directory)
    results = locate(model, [files[1], files[0]], nearest=3)
    assert all(isinstance(r, Location) for r in results)
    second, first = results
    assert isinstance(second, Location) and isinstance(first, Location)
    assert second.nearest[0] == (files[1].name, "hihat", 0.0)  # its own training point, distance 0
    assert first.nearest[0][0] == files[0].name and first.nearest[0][2] == 0.0
    assert [d for _, _, d in second.nearest] == sorted(d for _, _, d in second.nearest) and len(second.nearest) == 3
    assert 0.0 <= second.x <= 1.0 and 0.0 <= second.y <= 1.0
    assert second.class_name in model.class_names() and 0.0 < second.class_probability <= 1.0  # type: ignore[operator]


def test_the_command_reports_bad_files_and_locates_the_rest(located_model, tmp_path: Path, capsys) -> None:
    directory, files = located_model
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    code = main(["locate", str(files[2]), str(bad), str(tmp_path / "missing.wav"), "--model", str(directory), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [r["path"] for r in out["located"]] == [str(files[2])]
    assert out["located"][0]["nearest"][0]["file"] == files[2].name
    assert out["errors"] == [f"{bad}: cannot decode: Format not recognised.",
                             f"{tmp_path / 'missing.wav'}: cannot open: No such file or directory"]
    assert main(["locate", str(files[0]), "--model", str(directory)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{files[0]}: x ") and files[0].name in text


def test_a_model_without_preprocess_settings_still_locates_at_its_own_length(tmp_path: Path) -> None:
    model = tiny_model(0.3)
    model.card.pop("settings", None)
    (found,) = locate(model, [sorted(KIT.glob("*.wav"))[0]], nearest=0)
    assert isinstance(found, Location) and 0.0 <= found.x <= 1.0
