"""A 3D t-SNE of the normalised audio features, shown as colour: similar sounds, similar colours.

scikit-learn's Barnes-Hut t-SNE (PCA start, fixed seed, so a map is reproducible); each of the
three embedding axes is scaled by its own 1st-99th percentiles to a colour channel. Barnes-Hut
in 3D costs minutes beyond a few thousand points, so a bigger grid (the paper's 200 x 200 is
40,000 cells) is embedded through ``max_fit`` landmark cells drawn at random: the t-SNE runs on
them and every other cell is placed at the distance-weighted mean of its nearest landmarks in
feature space (the usual out-of-sample placement; neighbouring cells of a smooth map land
together either way).
"""

from __future__ import annotations

import numpy as np

MIN_POINTS = 5  # t-SNE needs perplexity < n; below this every cell is grey
MAX_FIT = 5000
NEIGHBOURS = 8


def _place(x: np.ndarray, landmarks: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """Embed rows of ``x`` at the inverse-distance-weighted mean of their nearest landmarks' ``emb``."""
    from sklearn.neighbors import NearestNeighbors

    k = min(NEIGHBOURS, landmarks.shape[0])
    dist, idx = NearestNeighbors(n_neighbors=k).fit(landmarks).kneighbors(x)
    w = 1.0 / np.maximum(dist, 1e-9)
    placed: np.ndarray = (emb[idx] * w[..., None]).sum(axis=1) / w.sum(axis=1, keepdims=True)
    return placed


def tsne_rgb(matrix: np.ndarray, seed: int = 0, perplexity: float = 30.0, max_fit: int = MAX_FIT) -> np.ndarray:
    """Features [N, F] (already scaled to 0..1) -> RGB [N, 3] in 0..1 from a 3D t-SNE."""
    from sklearn.manifold import TSNE

    x = np.asarray(matrix, dtype=np.float64)
    n = x.shape[0]
    if n < MIN_POINTS or not np.isfinite(x).all() or np.ptp(x, axis=0).max(initial=0.0) == 0.0:
        return np.full((n, 3), 0.5)
    rng = np.random.default_rng(seed)
    # tiny jitter: identical rows (a flat region of the map) would give t-SNE zero distances
    x = x + rng.normal(0.0, 1e-6, x.shape)
    fit = np.sort(rng.choice(n, size=max_fit, replace=False)) if n > max_fit else np.arange(n)
    tsne = TSNE(n_components=3, perplexity=min(perplexity, (fit.size - 1) / 3.0), init="pca", random_state=seed,
                method="barnes_hut", learning_rate="auto", n_jobs=-1)
    emb_fit: np.ndarray = tsne.fit_transform(x[fit])
    emb = emb_fit if fit.size == n else _place(x, x[fit], emb_fit)
    if fit.size < n:
        emb[fit] = emb_fit
    lo, hi = np.percentile(emb, [1, 99], axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    normalised: np.ndarray = np.clip((emb - lo) / span, 0.0, 1.0)
    return normalised
