"""Stage 2: a transformer that generates a frame sequence from a 2D map point.

The point becomes a conditioning vector (Fourier features -> MLP) added to every token. Frames
are grouped ``patch`` at a time into tokens. Two modes (``TransformerConfig.mode``):

- ``autoregressive``, GESAM's own: a causal decoder trained with teacher forcing; generation
  runs token by token with a key/value cache (``KVCache``). Free-running, its errors feed its
  next inputs, so sounds drift in class and fade (the first shipped model: 6.6 dB quiet).
- ``parallel``: every token is a learned position plus the point, attention is not causal,
  and one pass predicts all frames together. Nothing of its own output is fed back, so
  nothing drifts, and a point costs one forward pass instead of ``n_tokens`` steps.
- ``refine``: as parallel, and each token also reads the VAE decoder's frames at the same point
  (``prior``); the output is those frames plus the transformer's correction. The VAE decoder
  gives the coarse sound it learnt together with the map; the transformer, trained with an L1
  loss on the real frames, puts back the detail the decoder's averaging smooths away.
  ``gesam train`` uses it by default (``TRAINING_DEFAULTS``); the dataclass default stays
  autoregressive so a model.json written before the key existed loads as the model it was.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from gesam_engine.config import check
from gesam_engine.models.vae import MAX_FEATURES, MAX_FRAMES

MODES = ("autoregressive", "parallel", "refine")

# What ``gesam train`` uses where its [transformer] section says nothing: the mode measured best
# on the validation kits (figures in models/default/README.md).
TRAINING_DEFAULTS: dict[str, Any] = {"mode": "refine"}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Architecture of the map-conditioned transformer. ``n_frames``/``n_features`` come from the codec."""

    n_frames: int = 259
    n_features: int = 128
    patch: int = 4
    d_model: int = 192
    n_heads: int = 4
    n_layers: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    fourier_features: int = 16
    fourier_scale: float = 4.0
    mode: str = "autoregressive"  # one of MODES

    def __post_init__(self) -> None:
        check(self.mode in MODES, f"transformer.mode must be one of {list(MODES)}, got {self.mode!r}")
        check(1 <= self.n_frames <= MAX_FRAMES, f"transformer.n_frames must be in 1..{MAX_FRAMES}, got {self.n_frames}")
        check(1 <= self.n_features <= MAX_FEATURES,
              f"transformer.n_features must be in 1..{MAX_FEATURES}, got {self.n_features}")
        check(1 <= self.n_heads <= 64 and 8 <= self.d_model <= 4096,
              f"transformer.n_heads must be in 1..64 and d_model in 8..4096, got {self.n_heads}, {self.d_model}")
        check(1 <= self.patch <= 16, f"transformer.patch must be in 1..16, got {self.patch}")
        check(self.d_model % self.n_heads == 0, f"transformer.d_model ({self.d_model}) must divide by n_heads ({self.n_heads})")
        check(1 <= self.n_layers <= 48, f"transformer.n_layers must be in 1..48, got {self.n_layers}")
        check(1 <= self.ff_mult <= 8, f"transformer.ff_mult must be in 1..8, got {self.ff_mult}")
        check(0.0 <= self.dropout < 1.0, f"transformer.dropout must be in [0, 1), got {self.dropout}")
        check(1 <= self.fourier_features <= 256, f"transformer.fourier_features must be in 1..256, got {self.fourier_features}")
        check(self.fourier_scale > 0, f"transformer.fourier_scale must be > 0, got {self.fourier_scale}")

    @property
    def n_tokens(self) -> int:
        """Tokens per sound: frames grouped ``patch`` at a time (the last one zero-padded)."""
        return math.ceil(self.n_frames / self.patch)


@dataclasses.dataclass
class KVCache:
    """Keys and values of every layer for the tokens seen so far: [L, B, H, N, hd] each."""

    keys: torch.Tensor
    values: torch.Tensor
    length: int = 0


class PointEmbedding(nn.Module):
    """2D map point [B, 2] -> conditioning vector [B, d] through random Fourier features."""

    freqs: torch.Tensor  # a buffer (register_buffer), [2, fourier_features]

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1234)
        freqs = torch.randn(2, config.fourier_features, generator=gen) * config.fourier_scale
        self.register_buffer("freqs", freqs)
        self.mlp = nn.Sequential(
            nn.Linear(2 + 2 * config.fourier_features, config.d_model), nn.GELU(), nn.Linear(config.d_model, config.d_model)
        )

    def forward(self, point: torch.Tensor) -> torch.Tensor:
        proj = 2 * math.pi * point @ self.freqs  # (B, F)
        cond: torch.Tensor = self.mlp(torch.cat([point, proj.sin(), proj.cos()], dim=-1))  # (B, d)
        return cond


class SelfAttention(nn.Module):
    """Causal multi-head self-attention that can also run one step against a KV cache."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.causal = config.mode == "autoregressive"

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # (B, N, d) each
        shape = (b, n, self.n_heads, d // self.n_heads)
        return tuple(t.view(shape).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention over x [B, N, d]: causal in the autoregressive mode, over every token in the parallel one."""
        q, k, v = self._split(x)  # (B, H, N, hd)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)  # (B, H, N, hd)
        out: torch.Tensor = self.proj(y.transpose(1, 2).reshape(x.shape))
        return out

    def step(self, x: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
        """Attention for new token(s) x [B, n, d] at positions cache.length.. against the cache."""
        q, k, v = self._split(x)  # (B, H, n, hd)
        start, end = cache.length, cache.length + x.shape[1]
        cache.keys[layer, :, :, start:end] = k
        cache.values[layer, :, :, start:end] = v
        keys, values = cache.keys[layer, :, :, :end], cache.values[layer, :, :, :end]
        causal = x.shape[1] > 1
        if causal:  # a multi-token step (the prefix) needs the causal mask offset by ``start``
            mask = torch.ones(x.shape[1], end, dtype=torch.bool, device=x.device).tril(start)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, keys, values)
        out: torch.Tensor = self.proj(y.transpose(1, 2).reshape(x.shape))
        return out


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each with a residual."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.ln1 = nn.LayerNorm(d)
        self.attn = SelfAttention(config)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, config.ff_mult * d), nn.GELU(), nn.Linear(config.ff_mult * d, d))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        out: torch.Tensor = x + self.drop(self.mlp(self.ln2(x)))
        return out

    def step(self, x: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
        x = x + self.attn.step(self.ln1(x), cache, layer)
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class MapTransformer(nn.Module):
    """point [B, 2] (+ teacher frames [B, T, D] when autoregressive) -> frames [B, T, D]."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        token_dim = config.n_features * config.patch
        self.cond = PointEmbedding(config)
        if config.mode != "parallel":  # the parallel mode reads no frames
            self.inp = nn.Linear(token_dim, config.d_model)
        self.pos = nn.Parameter(torch.randn(config.n_tokens, config.d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, token_dim)
        if config.mode == "refine":  # it starts as the VAE decoder and learns only what to correct
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def patchify(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, D] -> tokens [B, N, D*patch] (zero-padded to N*patch frames)."""
        cfg = self.config
        pad = cfg.n_tokens * cfg.patch - frames.shape[1]
        if pad:
            frames = F.pad(frames, (0, 0, 0, pad))
        return frames.reshape(frames.shape[0], cfg.n_tokens, cfg.patch * cfg.n_features)

    def unpatchify(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [B, N, D*patch] -> frames [B, T, D]."""
        cfg = self.config
        frames = tokens.reshape(tokens.shape[0], tokens.shape[1] * cfg.patch, cfg.n_features)
        return frames[:, : cfg.n_frames]

    def _inputs(self, cond: torch.Tensor, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Embed tokens [B, n, D*patch] at positions start.. : cond token at 0, then previous tokens."""
        x: torch.Tensor = self.inp(tokens) + cond[:, None]  # (B, n, d)
        return x + self.pos[start : start + tokens.shape[1]]

    @property
    def parallel(self) -> bool:
        """True when one pass predicts every frame (``mode`` "parallel" or "refine")."""
        return self.config.mode in ("parallel", "refine")

    @property
    def needs_prior(self) -> bool:
        """True when it refines the VAE decoder's frames at the point (``mode = "refine"``)."""
        return self.config.mode == "refine"

    def _parallel(self, point: torch.Tensor, prior: torch.Tensor | None) -> torch.Tensor:
        """Every frame [B, T, D] of the sound at point [B, 2] in one pass (parallel and refine modes)."""
        x = self.pos[None] + self.cond(point)[:, None]  # (B, N, d)
        if self.needs_prior:
            if prior is None:
                raise ValueError("the refine transformer needs the VAE decoder's frames at the point (prior)")
            x = x + self.inp(self.patchify(prior))
        for block in self.blocks:
            x = block(x)
        out = self.unpatchify(self.head(self.ln_f(x)))
        return out + prior if self.needs_prior and prior is not None else out  # prior checked above

    def forward(self, point: torch.Tensor, frames: torch.Tensor | None = None,
                prior: torch.Tensor | None = None) -> torch.Tensor:
        """Frames [B, T, D] of the sound at point [B, 2]. Autoregressive: teacher forcing, predicted
        from its true frames shifted by one token (``frames`` required); parallel: ``frames`` unused;
        refine: the correction added to ``prior`` [B, T, D], the VAE decoder's frames at the point."""
        if self.parallel:
            return self._parallel(point, prior)
        if frames is None:
            raise ValueError("the autoregressive transformer needs the teacher frames to predict from")
        cond = self.cond(point)  # (B, d)
        tokens = self.patchify(frames)  # (B, N, P)
        shifted = F.pad(tokens[:, :-1], (0, 0, 1, 0))  # (B, N, P): zeros at position 0
        x = self._inputs(cond, shifted, 0)
        for block in self.blocks:
            x = block(x)
        return self.unpatchify(self.head(self.ln_f(x)))

    def new_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> KVCache:
        """An empty cache for ``batch`` sequences of the full length."""
        cfg = self.config
        shape = (cfg.n_layers, batch, cfg.n_heads, cfg.n_tokens, cfg.d_model // cfg.n_heads)
        return KVCache(torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))

    def step(self, cond: torch.Tensor, token: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """One generation step: last token [B, 1, P] -> next token prediction [B, 1, P]; cache advanced."""
        x = self._inputs(cond, token, cache.length)
        for i, block in enumerate(self.blocks):
            x = cast(Block, block).step(x, cache, i)  # a ModuleList yields nn.Module; these are the Blocks
        cache.length += token.shape[1]
        return self.head(self.ln_f(x)), cache

    @torch.inference_mode()
    def generate(self, point: torch.Tensor, use_cache: bool = True, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Frames [B, T, D] for points [B, 2] (never below 0, the codec's floor). Autoregressive:
        ``use_cache=False`` recomputes the whole prefix every step (GESAM's reference loop); both
        give the same frames. Parallel: one pass, ``use_cache`` unused. Refine: ``prior`` required."""
        if self.parallel:
            return self._parallel(point, prior).clamp_min(0.0)
        cfg = self.config
        b = point.shape[0]
        cond = self.cond(point)  # (B, d)
        token_dim = cfg.patch * cfg.n_features
        tokens = torch.zeros(b, cfg.n_tokens + 1, token_dim, device=point.device, dtype=cond.dtype)
        cache = self.new_cache(b, point.device, cond.dtype) if use_cache else None
        for t in range(cfg.n_tokens):
            if cache is not None:
                pred, cache = self.step(cond, tokens[:, t : t + 1], cache)  # (B, 1, P)
                nxt = pred[:, 0]
            else:
                x = self._inputs(cond, tokens[:, : t + 1], 0)
                for block in self.blocks:
                    x = block(x)
                nxt = self.head(self.ln_f(x[:, -1]))
            tokens[:, t + 1] = nxt.clamp_min(0.0)
        return self.unpatchify(tokens[:, 1:])
