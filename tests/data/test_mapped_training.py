"""Training from the mapped corpus gives the weights training from memory gives, every stage, with
the mapping's pages dropped again and again on the way (``paging.RELEASE_BYTES`` made tiny)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.data import paging
from gesam_engine.data.frame_store import FrameWriter, scratch_array
from gesam_engine.models import ClassifierConfig, TransformerConfig, VAEConfig
from gesam_engine.training.classifier_trainer import train_classifier
from gesam_engine.training.settings import TrainConfig
from gesam_engine.training.transformer_trainer import train_transformer
from gesam_engine.training.vae_trainer import encode_all, train_vae

T, D = 23, 16
CPU = torch.device("cpu")
TRAIN = TrainConfig(classifier_epochs=2, vae_epochs=2, transformer_epochs=2, batch_size=8, warmup_epochs=1)


def _weights(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _stages(frames: torch.Tensor, copies: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    labels = torch.arange(4).repeat_interleave(10)
    cfg = ClassifierConfig(n_frames=T, n_features=D, n_classes=4, channels=8, n_down=1, kernel_size=3)
    clf, hist = train_classifier(frames, labels, 4, cfg, TRAIN, CPU, False, copies=copies)
    vae, _ = train_vae(frames, VAEConfig(n_frames=T, n_features=D, channels=16, n_down=2, hidden=32), TRAIN, CPU, False)
    points = encode_all(vae, frames, CPU, batch=16)
    tf_cfg = TransformerConfig(n_frames=T, n_features=D, d_model=32, n_heads=2, n_layers=2, patch=4, fourier_features=4,
                               mode="parallel")
    tf, _ = train_transformer(frames, points, tf_cfg, TRAIN, CPU, False)
    return {"classifier": _weights(clf), "vae": _weights(vae), "points": {"": points.numpy()},
            "transformer": _weights(tf), "accuracy": {"": np.array([hist["train_accuracy"], hist["holdout_accuracy"]])}}


def test_stages_train_the_same_from_the_mapped_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    frames = rng.random((40, T, D), dtype=np.float32)
    copies = rng.random((40, 2, T, D), dtype=np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        in_memory = _stages(torch.from_numpy(frames), copies)
        writer = FrameWriter((T, D), tmp_path)
        for i, row in enumerate(frames):
            writer.append(row, f"{i:064x}")
        mapped, _ = writer.finish()
        bank = scratch_array(copies.shape, tmp_path)
        bank[:] = copies
        drops: list[int] = []
        real_drop = paging._drop
        monkeypatch.setattr(paging, "RELEASE_BYTES", 3 * T * D * 4)  # every few rows
        monkeypatch.setattr(paging, "_drop", lambda m: (drops.append(1), real_drop(m))[1])
        from_disk = _stages(torch.from_numpy(mapped), bank)
    finally:
        torch.set_num_threads(threads)
    assert len(drops) > 20  # the pages really were dropped, many times, while training read them
    for stage, weights in in_memory.items():
        for name, value in weights.items():
            np.testing.assert_array_equal(from_disk[stage][name], value, err_msg=f"{stage} {name}")
