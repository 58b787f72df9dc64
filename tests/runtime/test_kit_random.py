"""Kit randomising on a class map: every unlocked pad lands in the region its name says, locked
pads stay, pads are kept apart, undo brings the kit back; and `gesam kit random` writes such a kit."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from gesam_engine.cli.main import main
from gesam_engine.errors import GesamError
from gesam_engine.maps.grid import grid_cell
from gesam_engine.maps.maps_file import MapsFile, write_maps_file
from gesam_engine.runtime.kit_random import KitHistory, class_of_name, randomize
from gesam_engine.runtime.kits import default_kit, load_kit
from tests.runtime.test_engine import make_engine

CLASSES = [{"name": "kick", "color": "#e6194b"}, {"name": "snare", "color": "#3cb44b"},
           {"name": "hihat", "color": "#ffe119"}, {"name": "tom", "color": "#4363d8"}]
GRID = 8


def region(x: float, y: float) -> int:
    """Quadrants: kick bottom left, snare bottom right, hihat top left, tom top right."""
    return (1 if x >= 0.5 else 0) + (2 if y >= 0.5 else 0)


def class_maps() -> MapsFile:
    cells = [((c + 0.5) / GRID, (r + 0.5) / GRID) for r in range(GRID) for c in range(GRID)]
    ids = [region(x, y) for x, y in cells]
    return MapsFile(grid=GRID, weights={}, views=[], classes=CLASSES, class_source="training labels", class_ids=ids,
                    class_colors=[CLASSES[k]["color"] for k in ids], features={}, feature_units={}, feature_clip={},
                    tsne_rgb=None)


def test_a_pads_name_says_its_class() -> None:
    names = [c["name"] for c in CLASSES]
    assert [class_of_name(n, names) for n in ("kick", "BD 2", "side stick", "open hat", "low floor tom", "pad 3")] \
        == ["kick", "kick", "snare", "hihat", "tom", None]


def test_every_unlocked_pad_lands_in_its_class_region_and_locked_pads_stay() -> None:
    kit = default_kit()
    kit = dataclasses.replace(kit, pads=tuple(dataclasses.replace(p, locked=(n == 2)) for n, p in enumerate(kit.pads)))
    maps = class_maps()
    names = [c["name"] for c in CLASSES]
    for seed in range(20):
        new = randomize(kit, maps, random.Random(seed))
        assert new.pads[2] == kit.pads[2]
        for n, (old, pad) in enumerate(zip(kit.pads, new.pads)):
            want = class_of_name(pad.name, names)
            if want is not None and not pad.locked:
                assert CLASSES[region(pad.x, pad.y)]["name"] == want, (seed, n, pad)
            assert dataclasses.replace(pad, x=old.x, y=old.y) == old  # only the point changes
        cells = [grid_cell(p.x, p.y, GRID) for p in new.pads]
        assert len(set(cells)) == len(cells)  # 16 pads, 64 cells: never two on one cell
    assert randomize(kit, maps, random.Random(1)) == randomize(kit, maps, random.Random(1))


def test_without_maps_pads_land_anywhere_and_locked_ones_stay() -> None:
    kit = default_kit()
    locked = dataclasses.replace(kit.pads[0], locked=True)
    kit = dataclasses.replace(kit, pads=(locked, *kit.pads[1:]))
    new = randomize(kit, None, random.Random(0))
    assert new.pads[0] == locked and all(a.xy != b.xy for a, b in zip(kit.pads[1:], new.pads[1:]))


def test_history_gives_back_kits_newest_first_and_is_bounded() -> None:
    history = KitHistory(depth=2)
    kits = [dataclasses.replace(default_kit(), name=str(i)) for i in range(3)]
    for k in kits:
        history.push(k)
    assert [history.pop(), history.pop(), history.pop()] == [kits[2], kits[1], None]


def test_the_engine_randomizes_locks_and_undoes(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    write_maps_file(tmp_path / "maps", class_maps())
    from gesam_engine.maps.maps_file import read_maps_file
    engine.maps = read_maps_file(tmp_path / "maps")
    engine.start()
    try:
        with pytest.raises(GesamError, match="nothing to undo"):
            engine.undo_kit()
        before = engine.kit()
        engine.lock_pad(0, True)
        new = engine.randomize_kit(seed=5)
        assert new.pads[0].xy == before.pads[0].xy and new.pads[0].locked
        assert CLASSES[region(*new.pads[2].xy)]["name"] == "snare"
        assert engine.pad(2).xy == new.pads[2].xy and all(engine.pad(n) == p for n, p in enumerate(new.pads))
        engine.randomize_kit(seed=6)
        assert engine.undo_kit() == new
        undone = engine.undo_kit()
        assert [p.xy for p in undone.pads] == [p.xy for p in before.pads] and undone.pads[0].locked
        assert (new.name, undone.name) == ("random", "default")  # /gesam/state/kit says which
        assert engine.trigger_pad(2).trigger_id > 0
    finally:
        engine.stop()


def test_gesam_kit_random_writes_a_kit_in_the_class_regions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tiny import tiny_model

    model = tmp_path / "model"
    tiny_model(0.25).save(model)
    write_maps_file(model / "map" / "maps", class_maps())
    out = tmp_path / "random.toml"
    assert main(["kit", "random", str(out), "--model", str(model), "--seed", "3"]) == 0
    kit = load_kit(out)
    assert CLASSES[region(*kit.pads[0].xy)]["name"] == "kick" and kit.pads[0].name == "kick"
    assert "kick" in capsys.readouterr().out
    assert main(["kit", "random", str(out), "--model", str(model)]) != 0
    assert "already exists; pass --force" in capsys.readouterr().err
    bare = tmp_path / "bare"
    tiny_model(0.25).save(bare)
    assert main(["kit", "random", str(tmp_path / "x.toml"), "--model", str(bare)]) != 0
    assert "make the model's maps with `gesam maps` first" in capsys.readouterr().err
    (model / "model.json").write_text("{not json")
    assert main(["kit", "random", str(tmp_path / "y.toml"), "--model", str(model)]) != 0
    assert "is not valid JSON" in capsys.readouterr().err  # one clear line, no traceback
