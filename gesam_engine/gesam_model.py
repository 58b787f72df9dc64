"""The assembled model: codec + map VAE + map-conditioned transformer + map extent + classes,
and (when trained with at least two classes) a frame classifier.

This is what ``gesam render``, the engine and the bake load. It turns normalised map points
into frames (transformer, batched, KV cache), frames into audio (codec), and frames into
class probabilities (classifier).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from gesam_engine import checkpoint
from gesam_engine.codec import Codec, make_codec
from gesam_engine.config import from_dict, to_dict
from gesam_engine.coordinates import MapExtent
from gesam_engine.errors import CheckpointError, CodecError, ConfigError, GesamError
from gesam_engine.models import ClassifierConfig, FrameClassifier, MapTransformer, MapVAE, TransformerConfig, VAEConfig

CPU_DECODE_CHUNK = 16  # sounds per Griffin-Lim batch on a CPU (see decode)


@dataclasses.dataclass
class GesamModel:
    """Everything needed to turn a map point into a sound. Build with ``load`` or the trainer."""

    codec: Codec
    vae: MapVAE
    transformer: MapTransformer
    extent: MapExtent
    n_samples: int
    classes: list[dict[str, str]]
    card: dict[str, Any]
    device: torch.device = torch.device("cpu")
    directory: Path | None = None  # where it was loaded from (its map/ bake lives there)
    classifier: FrameClassifier | None = None  # frames -> class probabilities, in ``classes`` order

    @property
    def sample_rate(self) -> int:
        """Rate of the audio this model renders."""
        return self.codec.sample_rate

    def to(self, device: str | torch.device) -> "GesamModel":
        """Move the networks to ``device`` (e.g. ``cuda``) and remember it."""
        self.device = torch.device(device)
        self.vae.to(self.device)
        self.transformer.to(self.device)
        if self.classifier is not None:
            self.classifier.to(self.device)
        return self

    @torch.inference_mode()
    def generate_frames(self, xy: np.ndarray, use_cache: bool = True) -> torch.Tensor:
        """Normalised points [B, 2] -> frames [B, T, D] on ``device`` (transformer, batched)."""
        z = torch.from_numpy(self.extent.to_latent(np.atleast_2d(xy))).to(self.device)
        prior = self.vae.decode(z) if self.transformer.needs_prior else None  # refine mode: the decoder's frames
        return self.transformer.generate(z, use_cache=use_cache, prior=prior)

    def level(self) -> tuple[float, float]:
        """(target LUFS, peak ceiling dBFS) the training sounds were brought to: decoded sounds get the same."""
        # lazy: gesam_engine.data brings pyloudnorm/scipy.signal (~0.5 s); only decoding needs them
        from gesam_engine.data.preprocess import PreprocessConfig

        pre = (self.card.get("settings") or {}).get("preprocess") or {}
        default = PreprocessConfig()
        return (float(pre.get("target_lufs", default.target_lufs)),
                float(pre.get("peak_ceiling_db", default.peak_ceiling_db)))

    @torch.inference_mode()
    def decode(self, frames: torch.Tensor, iters: int | None = None) -> np.ndarray:
        """Frames [B, T, D] -> waves [B, L] float32 numpy at ``sample_rate``, at the training sounds'
        loudness and peak ceiling (``data.level``: at most +24 dB, peaks at most -1 dBFS by default)."""
        # On a CPU, Griffin-Lim on a big batch runs out of cache: 64 sounds at once cost 173 ms each,
        # 16 at a time 63 ms (measured on the 2-core CI machine); a GPU takes the whole batch.
        n = frames.shape[0]
        step = max(n, 1) if frames.device.type == "cuda" else CPU_DECODE_CHUNK
        waves = torch.cat([self.codec.decode_batch(frames[i:i + step], self.n_samples, iters=iters)  # type: ignore[call-arg]
                           for i in range(0, max(n, 1), step)])  # an empty batch makes one empty chunk
        from gesam_engine.data.level import level_like_training  # lazy: see ``level``

        target_lufs, ceiling_db = self.level()
        return level_like_training(waves.float().cpu().numpy(), self.sample_rate, target_lufs, ceiling_db)

    def render(self, xy: np.ndarray, iters: int | None = None) -> np.ndarray:
        """Normalised points [B, 2] -> waves [B, L] float32: the sounds at those map points."""
        return self.decode(self.generate_frames(xy), iters=iters)

    @torch.inference_mode()
    def encode_points(self, frames: np.ndarray) -> np.ndarray:
        """Frames [N, T, D] -> their VAE map points in normalised coordinates [N, 2]."""
        mu, _ = self.vae.encode(torch.from_numpy(np.asarray(frames, np.float32)).to(self.device))
        return self.extent.to_normalised(mu.cpu().numpy())

    def class_names(self) -> list[str]:
        """Names of the training classes, in label order."""
        return [c["name"] for c in self.classes]

    def classify(self, frames: torch.Tensor | np.ndarray, batch: int = 256) -> np.ndarray:
        """Frames [B, T, D] (torch on any device, or numpy) -> class probabilities [B, C] float32
        numpy, columns in ``classes`` order; works on generated frames as well as real ones."""
        if self.classifier is None:
            raise GesamError(
                "this model has no classifier; retrain it with `gesam train` on samples of at least two classes"
            )
        cfg = self.classifier.config
        x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.asarray(frames, dtype=np.float32))
        if x.ndim != 3 or tuple(x.shape[1:]) != (cfg.n_frames, cfg.n_features):
            raise CodecError(f"classify expects frames [B, {cfg.n_frames}, {cfg.n_features}], got shape {tuple(x.shape)}")
        return self.classifier.probabilities(x, batch)

    def save(self, directory: Path, extra_files: Mapping[str, bytes] | None = None, force: bool = False,
             data_roots: Sequence[Path] = ()) -> Path:
        """Write the model directory (model.json + vae/transformer, and classifier when present, safetensors).

        ``force`` replaces only a model directory or an empty folder; ``data_roots`` (the sample
        folders) are never replaced nor written into (see ``checkpoint.check_output``)."""
        card = dict(self.card)
        card.update(
            codec=self.codec.to_config(),
            audio={"sample_rate": self.sample_rate, "n_samples": self.n_samples,
                   "duration_s": self.n_samples / self.sample_rate},
            vae=to_dict(self.vae.config),
            transformer=to_dict(self.transformer.config),
            classes=self.classes,
            map={**card.get("map", {}), "extent": self.extent.to_dict()},
        )
        card.pop("files", None)
        weights = {"vae.safetensors": self.vae.state_dict(), "transformer.safetensors": self.transformer.state_dict()}
        card.pop("classifier", None)
        if self.classifier is not None:
            card["classifier"] = to_dict(self.classifier.config)
            weights["classifier.safetensors"] = self.classifier.state_dict()
        return checkpoint.write_model_dir(Path(directory), card, weights, extra_files=extra_files, force=force,
                                         data_roots=data_roots)

    @classmethod
    def load(cls, directory: Path | str, device: str | torch.device = "cpu") -> "GesamModel":
        """Load and verify a model directory; any problem is a CheckpointError naming the file."""
        directory = Path(directory)
        card = checkpoint.read_card(directory)
        where = directory / checkpoint.CARD
        try:
            codec = make_codec(card["codec"])
            vae_cfg = from_dict(VAEConfig, card["vae"], "vae")
            tf_cfg = from_dict(TransformerConfig, card["transformer"], "transformer")
            extent = MapExtent.from_dict(card["map"]["extent"])
            n_samples = int(card["audio"]["n_samples"])
            classes = [{"name": str(c["name"]), "color": str(c["color"])} for c in card.get("classes", [])]
            clf_cfg = from_dict(ClassifierConfig, card["classifier"], "classifier") if "classifier" in card else None
        except KeyError as exc:
            raise CheckpointError(f"{where} lacks the entry {exc}; the card is incomplete") from None
        except (GesamError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{where} has invalid settings: {exc}") from None
        if (vae_cfg.n_features, tf_cfg.n_features) != (codec.n_features, codec.n_features):
            raise CheckpointError(f"{where}: vae/transformer n_features do not match the codec's {codec.n_features}")
        if tf_cfg.n_frames != codec.n_frames(n_samples) or vae_cfg.n_frames != tf_cfg.n_frames:
            raise CheckpointError(f"{where}: n_frames do not match the codec and audio length")
        if clf_cfg is not None and (clf_cfg.n_frames, clf_cfg.n_features) != (tf_cfg.n_frames, codec.n_features):
            raise CheckpointError(
                f"{where}: classifier expects frames [{clf_cfg.n_frames}, {clf_cfg.n_features}], "
                f"the codec and audio length give [{tf_cfg.n_frames}, {codec.n_features}]"
            )
        if clf_cfg is not None and clf_cfg.n_classes != len(classes):
            raise CheckpointError(f"{where}: classifier has {clf_cfg.n_classes} classes, the card lists {len(classes)}")
        vae, transformer = MapVAE(vae_cfg), MapTransformer(tf_cfg)
        classifier = FrameClassifier(clf_cfg) if clf_cfg is not None else None
        modules: list[tuple[torch.nn.Module, str]] = [(vae, "vae.safetensors"), (transformer, "transformer.safetensors")]
        if classifier is not None:
            modules.append((classifier, "classifier.safetensors"))
        for module, name in modules:
            checkpoint.load_state(module, checkpoint.read_weights(directory, card, name), directory / name)
            module.eval()
        model = cls(codec, vae, transformer, extent, n_samples, classes, card, directory=directory, classifier=classifier)
        return model.to(device)

    def summary(self) -> str:
        """A readable model card for ``gesam info``."""
        c = self.card
        lines = [
            f"gesam model (format {c.get('format_version')}, gesam {c.get('gesam_version', '?')}, "
            f"created {c.get('created', '?')})",
            f"  audio       {self.sample_rate} Hz, {self.n_samples / self.sample_rate:.2f} s",
            f"  codec       {json.dumps(self.codec.to_config())}",
            f"  vae         {sum(p.numel() for p in self.vae.parameters()):,} parameters  {json.dumps(to_dict(self.vae.config))}",
            f"  transformer {sum(p.numel() for p in self.transformer.parameters()):,} parameters  "
            f"{json.dumps(to_dict(self.transformer.config))}",
            self._classifier_line(),
            f"  map extent  {json.dumps(self.extent.to_dict())}",
            "  classes     " + (", ".join(f"{k['name']} {k['color']}" for k in self.classes) or "(none)"),
        ]
        t = c.get("training") or {}
        if t:
            corpus = t.get("corpus", {})
            counts = ", ".join(f"{k} {v}" for k, v in corpus.get("class_counts", {}).items())
            lines.append(f"  trained on  {corpus.get('n_files', '?')} files ({counts}), {corpus.get('n_skipped', 0)} skipped")
            for stage in ("vae", "transformer"):
                h = t.get(stage) or {}
                if h:
                    lines.append(f"  {stage:<11} {h.get('epochs')} epochs, {h.get('seconds_per_epoch')} s/epoch, "
                                 f"final {json.dumps(h.get('final'))}")
            h = t.get("classifier") or {}
            if h.get("epochs"):
                lines.append(f"  classifier  {h['epochs']} epochs, {h.get('seconds_per_epoch')} s/epoch, "
                             f"train accuracy {h.get('train_accuracy')}, per class {json.dumps(h.get('per_class_accuracy'))}")
            lines.append(f"  hardware    {t.get('hardware', '?')}, {t.get('seconds', '?')} s in all, seed {t.get('seed', '?')}")
        if c.get("evaluation"):
            lines.append(f"  evaluation  {json.dumps(c['evaluation'])}")
        return "\n".join(lines)

    def _classifier_line(self) -> str:
        """The classifier's line of ``summary``: size and held-out accuracy, or why there is none."""
        hist = (self.card.get("training") or {}).get("classifier") or {}
        if self.classifier is None:
            why = hist.get("skipped") or "retrain with `gesam train` on at least two classes to get one"
            return f"  classifier  (none: {why})"
        n = sum(p.numel() for p in self.classifier.parameters())
        acc = hist.get("holdout_accuracy")
        held = (f"holdout accuracy {acc:.3f} on {hist.get('n_holdout')} sounds" if isinstance(acc, (int, float))
                else "no holdout accuracy")
        return f"  classifier  {n:,} parameters, {held}  {json.dumps(to_dict(self.classifier.config))}"


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else must be a device torch knows."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available here; use auto or cpu")
    return device
