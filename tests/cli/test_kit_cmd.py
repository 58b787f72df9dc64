"""``gesam kit new`` and ``gesam kit export`` through the real entry point, with a tiny saved model."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.cli.main import main
from gesam_engine.gesam_model import GesamModel
from gesam_engine.runtime.kits import default_kit, load_kit
from tests.runtime.test_kits import check_sfz
from tests.tiny import tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kit_cmd") / "model"
    tiny_model(0.2).save(directory)
    return directory


def test_kit_new_writes_the_default_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kits" / "my-kit.toml"
    assert main(["kit", "new", str(path)]) == 0
    assert load_kit(path) == default_kit(name="my-kit")
    assert "wrote" in capsys.readouterr().out
    assert main(["kit", "new", str(path), "--name", "Other"]) == 2  # no --force
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["kit", "new", str(path), "--name", "Other", "--force"]) == 0
    assert load_kit(path).name == "Other"


def test_kit_export_renders_every_pad(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit_file = tmp_path / "k.toml"
    kit_file.write_text('name = "edited"\n[[pads]]\nname = "kick"\n[[pads]]\nchoke = 2\n[[pads]]\nchoke = 2\npitch = -1.5\n')
    out = tmp_path / "sfz"
    assert main(["kit", "export", "--sfz", str(out), "--kit", str(kit_file), "--model", str(model_dir)]) == 0
    assert "wrote" in capsys.readouterr().out
    kit = load_kit(kit_file)
    regions = check_sfz(out / "kit.sfz", kit)
    model = GesamModel.load(model_dir)
    for r in regions:
        wave, rate = sf.read(str(out / r["sample"]), dtype="float32")
        assert rate == model.sample_rate and len(wave) == model.n_samples
        assert np.sqrt(np.mean(wave**2)) > 1e-3  # not silent
    assert regions[0]["sample"] == "samples/pad_00_kick.wav"
    assert regions[1]["group"] == regions[2]["group"] == regions[2]["off_by"] == "3"

    args = ["kit", "export", "--sfz", str(out), "--model", str(model_dir)]
    assert main(args) == 2  # no --force
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(args + ["--force", "--first-note", "60"]) == 0  # the default kit
    regions = check_sfz(out / "kit.sfz", default_kit(), first_note=60)
    assert sorted(p.name for p in (out / "samples").iterdir()) == sorted(r["sample"][8:] for r in regions)


@pytest.mark.parametrize(("extra", "message"), [
    (["--first-note", "120"], r"--first-note must be in 0\.\.112"),
    (["--iters", "-1"], r"--iters must be in 0\.\.1000"),
    (["--kit", "{tmp}/missing.toml"], "does not exist"),
    (["--model", "{tmp}/no-model"], "no-model"),
])
def test_kit_export_errors_are_one_line(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
                                        extra: list[str], message: str) -> None:
    extra = [e.format(tmp=tmp_path) for e in extra]
    args = ["kit", "export", "--sfz", str(tmp_path / "out"), "--model", str(model_dir)] + extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gesam kit: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
    assert not (tmp_path / "out" / "kit.sfz").exists()


def test_kit_export_without_a_model_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import gesam_engine.model_paths as model_paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(model_paths.ENV_VAR, raising=False)
    monkeypatch.setattr(model_paths, "PACKAGE_ROOT", tmp_path / "elsewhere")  # no shipped model beside the package
    assert main(["kit", "export", "--sfz", "out"]) == 2
    assert "no model found (looked in models/default, build/demo/model" in capsys.readouterr().err


def test_kit_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kit"])
    assert "new" in capsys.readouterr().err


# ---- the zip bundle ------------------------------------------------------------------------------
def _zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as bundle:
        assert bundle.testzip() is None  # every member's CRC checks
        return bundle.namelist()


def test_kit_export_zip_unpacks_into_a_folder_an_sfz_sampler_opens(tmp_path: Path, model_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    kit_file = tmp_path / "k.toml"
    kit_file.write_text('name = "Zipped"\n[[pads]]\nname = "kick"\n[[pads]]\nname = "snare"\nchoke = 1\n')
    bundle = tmp_path / "out" / "My Kit.zip"
    sfz_dir = tmp_path / "sfz"
    args = ["kit", "export", "--kit", str(kit_file), "--model", str(model_dir), "--zip", str(bundle)]
    assert main(args + ["--sfz", str(sfz_dir)]) == 0
    out = capsys.readouterr().out
    kit = load_kit(kit_file)  # the two pads given, then the default kit's
    assert f"wrote {sfz_dir / 'kit.sfz'}" in out and f"wrote {bundle}: {len(kit.pads) + 2} files under my-kit/" in out
    names = _zip_names(bundle)
    assert names[:4] == ["my-kit/kit.sfz", "my-kit/kit.toml", "my-kit/samples/pad_00_kick.wav",
                         "my-kit/samples/pad_01_snare.wav"] and names == sorted(names)  # name order, always
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(unpacked)
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    regions = check_sfz(unpacked / "my-kit" / "kit.sfz", kit)  # every sample it names is inside the zip
    assert names[2:] == sorted(f"my-kit/{r['sample']}" for r in regions)  # and nothing else
    assert load_kit(unpacked / "my-kit" / "kit.toml") == kit
    for name in ["kit.sfz"] + [r["sample"] for r in regions]:  # the folder's very files
        assert (unpacked / "my-kit" / name).read_bytes() == (sfz_dir / name).read_bytes(), name

    before = bundle.read_bytes()
    assert main(args) == 2  # an existing zip is kept without --force, and nothing is rendered
    assert f"{bundle} already exists; pass --force" in capsys.readouterr().err
    assert bundle.read_bytes() == before
    assert main(args + ["--force"]) == 0  # only the zip this time: rendered in a temporary folder, then bundled
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {bundle}: {len(names)} files") and "kit.sfz:" not in out
    assert _zip_names(bundle) == names


def test_the_same_folder_gives_the_same_zip(tmp_path: Path) -> None:
    from gesam_engine.errors import GesamError
    from gesam_engine.sfz_bundle import sfz_samples, write_sfz_zip

    (tmp_path / "k" / "samples").mkdir(parents=True)
    (tmp_path / "k" / "kit.sfz").write_text("// sample=samples/commented.wav\n<region> key=36 sample=samples/b.wav\n"
                                            "<region> key=37 sample=samples/a.wav\n")
    (tmp_path / "k" / "samples" / "a.wav").write_bytes(b"A" * 100)
    (tmp_path / "k" / "samples" / "b.wav").write_bytes(b"B" * 100)
    (tmp_path / "k" / "samples" / "stray.wav").write_bytes(b"not named by the sfz")
    first = write_sfz_zip(tmp_path / "k" / "kit.sfz", "name = 'k'\n", tmp_path / "1.zip", "k")
    for sample in (tmp_path / "k" / "samples").iterdir():  # other file dates: a zip that kept them would differ
        os.utime(sample, (1e9, 1e9))
    write_sfz_zip(tmp_path / "k" / "kit.sfz", "name = 'k'\n", tmp_path / "2.zip", "k")
    assert first == ["k/kit.sfz", "k/kit.toml", "k/samples/a.wav", "k/samples/b.wav"] == _zip_names(tmp_path / "1.zip")
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()
    with pytest.raises(GesamError, match="already exists; pass --force"):
        write_sfz_zip(tmp_path / "k" / "kit.sfz", "", tmp_path / "1.zip", "k")
    (tmp_path / "k" / "samples" / "a.wav").unlink()
    with pytest.raises(GesamError, match="names the sample samples/a.wav, which is not in"):
        write_sfz_zip(tmp_path / "k" / "kit.sfz", "", tmp_path / "3.zip", "k")
    assert not (tmp_path / "3.zip").exists()
    for bad in ("../secret.wav", "/etc/passwd"):
        with pytest.raises(GesamError, match="outside its folder"):
            sfz_samples(f"<region> sample={bad}\n")


def test_kit_export_needs_somewhere_to_write(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kit", "export", "--model", str(model_dir)]) == 2
    assert "say where to export: --sfz DIR (a folder), --zip FILE.zip" in capsys.readouterr().err
