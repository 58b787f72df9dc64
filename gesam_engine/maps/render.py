"""Map pictures as PNG: a figure per view (axes in normalised map coordinates, legend or colour
bar) and a bare square image per view for the web map, both with y pointing up.

matplotlib's Agg backend only (no screen needed); feature views use perceptually uniform
colormaps so equal steps in the feature look like equal steps in colour.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FEATURE_CMAPS: dict[str, str] = {
    "rms": "magma", "centroid": "viridis", "bandwidth": "cividis", "flatness": "plasma", "rolloff": "viridis",
    "zcr": "inferno",
}
PLAIN_SIZE = 512  # pixels of a bare map image (nearest-neighbour upscale of the grid)


def _pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend (imported only once the backend is chosen)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def grid_image(values: np.ndarray, grid: int) -> np.ndarray:
    """Per-cell values [grid*grid, ...] in grid order -> an image [grid, grid, ...] with row 0 at the top (y up)."""
    img = np.asarray(values).reshape(grid, grid, *np.asarray(values).shape[1:])
    return img[::-1]


def colormap_rgb(values01: np.ndarray, cmap: str) -> np.ndarray:
    """Values in 0..1 -> RGB in 0..1 through a matplotlib colormap."""
    import matplotlib

    rgba: np.ndarray = matplotlib.colormaps[cmap](np.clip(values01, 0.0, 1.0))
    return rgba[..., :3]


def save_plain(path: Path, rgb: np.ndarray, grid: int) -> Path:
    """The bare map [grid*grid, 3] as a square PNG of about PLAIN_SIZE pixels (cells as flat squares)."""
    from PIL import Image

    img = (np.clip(grid_image(rgb, grid), 0.0, 1.0) * 255).round().astype(np.uint8)
    scale = max(1, PLAIN_SIZE // grid)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, "RGB").resize((grid * scale, grid * scale), Image.Resampling.NEAREST).save(path)
    return path


def _axes(title: str, width: float = 7.4) -> tuple[ModuleType, Figure, Axes]:
    """(pyplot, figure, axes) of a new map figure: unit square axes in normalised map coordinates."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, 6.0), dpi=110, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel("x (normalised map coordinate)")
    ax.set_ylabel("y (normalised map coordinate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    return plt, fig, ax


def save_feature_figure(path: Path, values01: np.ndarray, grid: int, title: str, cmap: str,
                        label: str, lo: float, hi: float) -> Path:
    """A feature view: the clipped, normalised values with a colour bar labelled in the feature's units."""
    plt, fig, ax = _axes(title)
    im = ax.imshow(grid_image(values01, grid) * (hi - lo) + lo, extent=(0, 1, 0, 1), origin="upper",
                   cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_class_figure(path: Path, rgb: np.ndarray, grid: int, title: str, classes: Sequence[dict[str, str]],
                      counts: Sequence[int], points: np.ndarray | None = None,
                      point_labels: np.ndarray | None = None) -> Path:
    """The class view with a legend (class colour, cells of that class) and, optionally, the
    training points drawn on top in their own class colours."""
    from matplotlib.patches import Patch

    plt, fig, ax = _axes(title, width=8.6)
    ax.imshow(grid_image(rgb, grid), extent=(0, 1, 0, 1), origin="upper", interpolation="nearest")
    if points is not None and point_labels is not None and len(points):
        colors = [classes[int(k)]["color"] for k in point_labels]
        ax.scatter(points[:, 0], points[:, 1], c=colors, s=14, edgecolors="black", linewidths=0.5)
    handles = [Patch(facecolor=c["color"], edgecolor="black", label=f"{c['name']} ({n} cells)")
               for c, n in zip(classes, counts)]
    if points is not None and point_labels is not None and len(points):
        handles.append(plt.Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="black",
                                  label="training sound"))
    fig.legend(handles=handles, loc="outside right upper", title="class (5-NN mix)")
    fig.savefig(path)
    plt.close(fig)
    return path


def save_rgb_figure(path: Path, rgb: np.ndarray, grid: int, title: str, note: str) -> Path:
    """An RGB view (the t-SNE map) with a line saying what the colours mean."""
    plt, fig, ax = _axes(title)
    ax.set_title(f"{title}\n{note}", fontsize=9)
    ax.imshow(grid_image(rgb, grid), extent=(0, 1, 0, 1), origin="upper", interpolation="nearest")
    fig.savefig(path)
    plt.close(fig)
    return path
