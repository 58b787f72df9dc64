"""The shipped model's card (models/default/README.md) says where each class lies on its map;
maps.json (the class of every cell) must agree, so the card cannot contradict its own map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

MODEL = Path(__file__).resolve().parents[1] / "models" / "default"
ROW = re.compile(r"^\| (\w+) \| (\d+) \| [^|:]+: ([^|]+) \| (\d+) % \| \(([\d.]+), ([\d.]+)\) \|$", re.M)
RANGE = re.compile(r"\b([xy]) (\d\.\d\d)-(\d\.\d\d)")


@pytest.fixture(scope="module")
def cells() -> dict[str, np.ndarray]:
    """Cell centres (x, y normalised, y up) of every class in maps.json."""
    maps = json.loads((MODEL / "map" / "maps" / "maps.json").read_text())
    grid = maps["grid"]  # row-major from the bottom left: index = row * grid + col
    ids = np.asarray(maps["class_ids"]).reshape(grid, grid)
    names = [c["name"] if isinstance(c, dict) else c for c in maps["classes"]]
    out = {}
    for k, name in enumerate(names):
        rows, cols = np.nonzero(ids == k)
        out[name] = np.stack([(cols + 0.5) / grid, (rows + 0.5) / grid], axis=1)
    return out


def _inside(xy: np.ndarray, where: str) -> np.ndarray:
    """Cells inside the card's region: 'x A-B, y C-D' (both) or 'y A-B or x C-D' (either)."""
    parts = [(xy[:, 0 if axis == "x" else 1] >= float(lo)) & (xy[:, 0 if axis == "x" else 1] <= float(hi))
             for axis, lo, hi in RANGE.findall(where.split("(")[0])]
    assert len(parts) == 2, where
    return parts[0] | parts[1] if " or " in where.split("(")[0] else parts[0] & parts[1]


def test_the_card_places_every_class_where_its_map_has_it(cells: dict[str, np.ndarray]) -> None:
    card = (MODEL / "README.md").read_text()
    rows = ROW.findall(card)
    present = {name for name, xy in cells.items() if len(xy)}
    assert {r[0] for r in rows} == present, "the card needs one row per class that has cells in maps.json"
    for name in set(cells) - present:  # a class with no cell is named as such, not left out silently
        assert re.search(rf"`{name}` \(0 cells\)", card), name
    for name, count, where, share, mx, my in rows:
        xy = cells[name]
        assert int(count) == len(xy), name
        assert abs(100 * _inside(xy, where).mean() - int(share)) <= 1, (name, where, _inside(xy, where).mean())
        assert np.median(xy, axis=0) == pytest.approx([float(mx), float(my)], abs=0.01), name


# Words a sentence must not use for a class whose map cells lie clearly on the other side.
OPPOSITE = {"left": r"\bright\b", "right": r"\bleft\b", "low": r"\b(upper|top)\b", "high": r"\b(lower|bottom)\b"}


def _sides(xy: np.ndarray) -> list[str]:
    """Where a class's cells clearly are: its median beyond 0.4/0.6 on either axis."""
    mx, my = np.median(xy, axis=0)
    return [side for side, on in (("left", mx < 0.4), ("right", mx > 0.6), ("low", my < 0.4), ("high", my > 0.6)) if on]


WORDS = {"kick": r"\bkicks?\b", "tom": r"\btoms?\b", "snare": r"\bsnares?\b", "hihat": r"\b(hi-?hats?|hats?)\b"}


def test_no_sentence_of_the_card_puts_a_drum_on_the_wrong_side_of_its_map(cells: dict[str, np.ndarray]) -> None:
    """A clause that names one drum (and no other) must not place it on the side its map cells are not."""
    text = " ".join(line for line in (MODEL / "README.md").read_text().splitlines() if not line.startswith("|"))
    clauses = re.split(r"[.;,]\s", text)
    for name, word in WORDS.items():
        about = [c for c in clauses if re.search(word, c, re.I)
                 and not any(re.search(w, c, re.I) for other, w in WORDS.items() if other != name)]
        assert about, f"the card says something about {name}s alone"
        for side in _sides(cells[name]):
            for clause in about:
                assert not re.search(OPPOSITE[side], clause, re.I), (name, side, clause)


def test_the_wrong_side_check_would_catch_a_misplaced_drum(cells: dict[str, np.ndarray]) -> None:
    assert _sides(cells["tom"]), "the toms' region is clearly on one side of the map"
    side = _sides(cells["tom"])[0]
    wrong = {"left": "right", "right": "left", "low": "upper", "high": "lower"}[side]
    assert re.search(OPPOSITE[side], f"toms sit in the {wrong} corner", re.I)


def test_the_cards_held_out_table_is_the_one_gesam_evaluate_stored() -> None:
    """The figures in the card's main table are model.json's "evaluation" (gesam evaluate --write), not retyped ones."""
    card = (MODEL / "README.md").read_text()
    section = card.split("## Evaluation on the validation kits", 1)[1].split("###", 1)[0]
    stored = json.loads((MODEL / "model.json").read_text())["evaluation"]["methods"]
    names = {"transformer (refine)": "transformer", "VAE reconstruction": "vae_reconstruction",
             "5-NN average": "knn5_average"}
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().replace("*", "") for c in line.strip("|").split("|")]
        if cells and cells[0] in names:
            rows[names[cells[0]]] = cells
    assert set(rows) == set(stored), "one row per evaluated method"
    for method, cells in rows.items():
        row = stored[method]
        mae, sem = (float(v) for v in cells[1].split("±"))
        assert (mae, sem) == (pytest.approx(row["frame_mae"], abs=5e-5), pytest.approx(row["frame_mae_sem"], abs=5e-5))
        assert float(cells[2]) == pytest.approx(row["mrstft"], abs=5e-4), method
        assert float(cells[3].rstrip(" %")) == pytest.approx(100 * row["class_match"], abs=0.05), method
        assert float(cells[4].rstrip(" %")) == pytest.approx(100 * row["class_match_file_label"], abs=0.05), method
        assert float(cells[5].removesuffix(" dB")) == pytest.approx(row["lufs_vs_original"], abs=0.05), method
