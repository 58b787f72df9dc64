"""Training that survives interruption: a stopped and resumed run ends with the weights of one that
never stopped; other settings, another corpus or a damaged checkpoint are refused; the corpus
and the thread count are recorded in model.json."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from gesam_engine.errors import CheckpointError
from gesam_engine.training import load_settings, train_model
from gesam_engine.training.resume import STATE, StopRequest, TrainingStopped, partial_dir

TINY = Path(__file__).parents[1] / "tiny_config.toml"


class StopAt(StopRequest):
    """Stops the run after ``epoch`` epochs of ``stage`` (as a Ctrl-C there would)."""

    def __init__(self, stage: str, epoch: int) -> None:
        super().__init__()
        self.at = (stage, epoch)

    def check(self, stage: str, epoch: int) -> bool:
        if (stage, epoch) == self.at:
            self.reason = "test stop"
        return (stage, epoch) == self.at


def _weights(model) -> dict[str, torch.Tensor]:
    parts = {"vae": model.vae, "transformer": model.transformer, "classifier": model.classifier}
    return {f"{name}.{k}": v for name, m in parts.items() for k, v in m.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(synth_kit: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("whole")
    settings = load_settings(TINY)
    model, report = train_model([synth_kit], settings, out / "model", cache_dir=out / "cache", progress=False)
    return model, report, out


@pytest.mark.slow
def test_a_run_stopped_twice_and_resumed_ends_with_the_uninterrupted_weights(uninterrupted, synth_kit, tmp_path):
    whole, whole_report, out = uninterrupted
    settings = load_settings(TINY)
    model_dir, cache = tmp_path / "model", out / "cache"
    with pytest.raises(TrainingStopped, match="stopped after stage 1 VAE, epoch 2/4.*--resume") as stopped:
        train_model([synth_kit], settings, model_dir, cache_dir=cache, progress=False, stop=StopAt("vae", 2))
    assert stopped.value.folder == partial_dir(model_dir) and not model_dir.exists()
    state = json.loads((partial_dir(model_dir) / STATE).read_text())
    assert state["current"]["stage"] == "vae" and state["current"]["epoch"] == 2 and state["done"] == {}

    with pytest.raises(TrainingStopped, match="stage 3 classifier, epoch 7/20"):
        train_model([synth_kit], settings, model_dir, cache_dir=cache, progress=False, resume=True,
                    stop=StopAt("classifier", 7))
    state = json.loads((partial_dir(model_dir) / STATE).read_text())
    assert set(state["done"]) == {"vae", "transformer"} and state["current"]["epoch"] == 7

    model, report = train_model([synth_kit], settings, model_dir, cache_dir=cache, progress=False, resume=True)
    assert not partial_dir(model_dir).exists(), "the checkpoint folder is removed once the model is written"
    expected, got = _weights(whole), _weights(model)
    assert expected.keys() == got.keys()
    worst = max((expected[k] - got[k]).abs().max().item() for k in expected)
    assert worst <= 1e-6, f"resumed weights differ from the uninterrupted run's by up to {worst}"
    for stage in ("vae", "transformer", "classifier"):
        assert report[stage]["final"] == whole_report[stage]["final"]
    assert report["classifier"]["holdout_accuracy"] == whole_report["classifier"]["holdout_accuracy"]
    assert report["resumed_after"] == "stage 3 classifier, epoch 7/20"


@pytest.fixture
def stopped_run(synth_kit: Path, uninterrupted, tmp_path: Path) -> tuple[Path, Path]:
    """A run stopped in stage 2 (model folder, cache) whose checkpoint waits in model.partial/."""
    cache = uninterrupted[2] / "cache"
    with pytest.raises(TrainingStopped):
        train_model([synth_kit], load_settings(TINY), tmp_path / "model", cache_dir=cache, progress=False,
                    stop=StopAt("transformer", 1))
    return tmp_path / "model", cache


@pytest.mark.slow
def test_resume_with_other_settings_or_files_is_refused_saying_what_differs(stopped_run, synth_kit, tmp_path):
    model_dir, cache = stopped_run
    with pytest.raises(CheckpointError, match=r"other settings: train.seed was 0, now 3.*--force without --resume"):
        train_model([synth_kit], load_settings(TINY, {"train": {"seed": 3}}), model_dir, cache_dir=cache,
                    progress=False, resume=True)
    grown = tmp_path / "grown"
    shutil.copytree(synth_kit, grown)
    shutil.copy(grown / "kicks" / sorted(os.listdir(grown / "kicks"))[0], grown / "kicks" / "extra_kick.wav")
    (grown / "kicks" / "extra_kick.wav").write_bytes((grown / "kicks" / "extra_kick.wav").read_bytes() + b"\0\0")
    with pytest.raises(CheckpointError, match=r"other training files: 1 file\(s\) added: kicks/extra_kick.wav"):
        train_model([grown], load_settings(TINY), model_dir, cache_dir=cache, progress=False, resume=True)
    # without --resume the checkpoint is not silently thrown away; --force starts over
    with pytest.raises(CheckpointError, match="interrupted run .*stage 2 transformer, epoch 1/4.*--resume.*--force"):
        train_model([synth_kit], load_settings(TINY), model_dir, cache_dir=cache, progress=False)
    # threads and checkpoint_minutes change how a run goes, not what it learns: resuming with them is fine
    changed = load_settings(TINY, {"train": {"threads": 2, "checkpoint_minutes": 1.0}})
    _, report = train_model([synth_kit], changed, model_dir, cache_dir=cache, progress=False, resume=True)
    assert report["threads"] == 2 and not partial_dir(model_dir).exists()
    with pytest.raises(CheckpointError, match="nothing to resume.*holds a model"):
        train_model([synth_kit], load_settings(TINY), model_dir, cache_dir=cache, progress=False, resume=True, force=True)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["flip a tensor byte", "truncate the tensors", "garbage state", "state names no file"])
def test_a_damaged_checkpoint_is_refused_never_unpickled(stopped_run, synth_kit, damage):
    model_dir, cache = stopped_run
    folder = partial_dir(model_dir)
    tensors = next(folder.glob("checkpoint-*.safetensors"))
    head = tensors.read_bytes()[:9]
    assert int.from_bytes(head[:8], "little") > 0 and head[8:9] == b"{", "a safetensors file (JSON header), not a pickle"
    if damage == "flip a tensor byte":
        data = bytearray(tensors.read_bytes())
        data[-5] ^= 0xFF
        tensors.write_bytes(bytes(data))
        match = "is damaged .*sha256"
    elif damage == "truncate the tensors":
        tensors.write_bytes(tensors.read_bytes()[:100])
        match = "is damaged"
    elif damage == "garbage state":
        (folder / STATE).write_bytes(b"\x80\x04\x95 not json")
        match = "state.json is damaged .*not valid JSON"
    else:
        state = json.loads((folder / STATE).read_text())
        del state["tensors"]
        (folder / STATE).write_text(json.dumps(state))
        match = "state.json is damaged .*missing or malformed"
    with pytest.raises(CheckpointError, match=match):
        train_model([synth_kit], load_settings(TINY), model_dir, cache_dir=cache, progress=False, resume=True)
    # --force without --resume deletes it and trains from the start
    train_model([synth_kit], load_settings(TINY), model_dir, cache_dir=cache, progress=False, force=True)
    assert (model_dir / "model.json").is_file() and not folder.exists()


def test_a_folder_in_the_checkpoints_place_that_is_not_one_is_never_touched(synth_kit, tmp_path):
    folder = partial_dir(tmp_path / "model")
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    for resume in (False, True):
        with pytest.raises(CheckpointError, match="holds other things \\(notes.txt\\)"):
            train_model([synth_kit], load_settings(TINY), tmp_path / "model", cache_dir=None, progress=False,
                        resume=resume, force=True)
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_model_json_records_the_corpus_files_with_their_hashes_and_one_thread(uninterrupted, synth_kit):
    _, report, out = uninterrupted
    card = json.loads((out / "model" / "model.json").read_text())
    corpus = card["training"]["corpus"]
    assert corpus == report["corpus"]
    assert {"n_files", "n_skipped", "class_counts", "cache_hits"} <= set(corpus)
    assert corpus["folders"] == [os.path.abspath(synth_kit)] and Path(corpus["folders"][0]).is_absolute()
    assert len(corpus["files"]) == corpus["n_files"] == 30 and corpus["n_skipped"] >= 3
    for entry in corpus["files"]:
        assert set(entry) == {"path", "folder", "sha256"}
        path = Path(corpus["folders"][entry["folder"]]) / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert not any(e["path"].startswith("broken/") for e in corpus["files"]), "skipped files are not training files"
    assert card["training"]["threads"] == 1 and "1 threads" in card["training"]["hardware"]
    assert card["settings"]["train"]["threads"] == 0  # the setting: 0 = one thread on CPU


def test_the_thread_count_is_set_for_training_and_restored_after(synth_kit, tmp_path, monkeypatch):
    import gesam_engine.training.pipeline as pipeline

    seen: list[int] = []
    monkeypatch.setattr(pipeline, "build_corpus", lambda *a, **k: seen.append(torch.get_num_threads()) or 1 / 0)
    before = torch.get_num_threads()
    for threads, expected in ((0, 1), (2, 2)):
        settings = load_settings(TINY, {"train": {"threads": threads}})
        with pytest.raises(ZeroDivisionError):
            train_model([synth_kit], settings, tmp_path / f"m{threads}", cache_dir=None, progress=False)
        assert seen[-1] == expected and torch.get_num_threads() == before
