"""`gesam serve` and `gesam render` import only what they use: librosa, matplotlib and scikit-learn
stay out (librosa alone cost 0.7 s of every start, through the classifier's mel bands).

Each check runs in a fresh interpreter and reads its ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gesam_engine.codec import make_codec
from gesam_engine.coordinates import MapExtent
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import bake_grid
from gesam_engine.models import ClassifierConfig, FrameClassifier, MapTransformer, MapVAE, TransformerConfig, VAEConfig
from tests.import_scan import command_imports

CLI = Path(__file__).resolve().parents[2] / "gesam_engine" / "cli"
UNUSED = ("librosa", "matplotlib", "sklearn")


def modules_after(code: str) -> list[str]:
    """``sys.modules`` of a fresh interpreter after running ``code``."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


@pytest.fixture(scope="module")
def stft_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny saved model as shipped: STFT codec, band-pooling classifier, a 2 x 2 map bake."""
    torch.manual_seed(0)
    codec = make_codec({"name": "stft", "n_fft": 256, "hop_length": 64, "griffin_lim_iters": 2})
    n_samples = int(0.2 * codec.sample_rate)
    t, d = codec.n_frames(n_samples), codec.n_features
    vae = MapVAE(VAEConfig(n_frames=t, n_features=d, channels=16, n_down=2, hidden=32)).eval()
    tf = MapTransformer(TransformerConfig(n_frames=t, n_features=d, d_model=32, n_heads=2, n_layers=2, patch=4,
                                          fourier_features=4)).eval()
    classes = [{"name": "kick", "color": "#e6194b"}, {"name": "snare", "color": "#3cb44b"}]
    clf = FrameClassifier(ClassifierConfig(n_frames=t, n_features=d, n_classes=2, arch="conv2d", channels=8,
                                           n_down=1, kernel_size=3, band_pool=16)).eval()
    directory = tmp_path_factory.mktemp("stft") / "model"
    GesamModel(codec, vae, tf, MapExtent(0.1, -0.2, 0.9), n_samples, classes, {}, classifier=clf).save(directory)
    bake_grid(GesamModel.load(directory), 2, directory / "map" / "bake", batch=4, progress=False)
    return directory


def test_the_command_modules_and_loading_a_model_import_no_unused_library(stft_model: Path) -> None:
    modules = ["gesam_engine.cli.main", "gesam_engine.cli.serve_cmd", "gesam_engine.cli.render_cmd",
               *command_imports(CLI / "serve_cmd.py", ("run_serve", "_serve", "make_osc_server")),
               *command_imports(CLI / "render_cmd.py", ("run_render",))]
    assert "gesam_engine.runtime.engine" in modules and "gesam_engine.gesam_model" in modules
    code = (f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
            "from gesam_engine.gesam_model import GesamModel\n"
            f"GesamModel.load({str(stft_model)!r})\n")
    loaded = modules_after(code)
    assert "torch" in loaded  # the check itself works: what the commands need is there
    assert [m for m in loaded if m.split(".")[0] in UNUSED] == []


def test_rendering_and_serving_load_no_part_of_the_unused_libraries(stft_model: Path, tmp_path: Path) -> None:
    """The commands run whole (render one point; serve into a WAV until the piped console ends)."""
    render = ["render", "--model", str(stft_model), "--xy", "0.3", "0.7", "-o", str(tmp_path / "r.wav")]
    serve = ["serve", "--model", str(stft_model), "--output", str(tmp_path / "s.wav"), "--osc-port", "0",
             "--cache", str(tmp_path / "cache"), "-q"]
    code = (
        "from gesam_engine.cli.main import main\n"
        f"assert main({render!r}) == 0\n"
        f"assert main({serve!r}) == 0\n"
    )
    loaded = modules_after(code)
    assert (tmp_path / "r.wav").is_file() and (tmp_path / "s.wav").is_file()
    assert [m for m in loaded if m.split(".")[0] in ("matplotlib", "sklearn")] == []
    # gesam_engine/data/audio_io.py imports librosa for its fallback reader; librosa's lazy loader
    # makes that nearly free, its parts (filters, util and their numba functions) load on use only
    assert [m for m in loaded if m.startswith("librosa.") and m != "librosa.version"] == []
    assert not (tmp_path / "cache" / "bakes").exists()  # the shipped bake serves: no built-in bake

