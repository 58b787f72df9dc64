"""Maps over the trained 2D space: the bake (a grid of ready frames and sounds on disk)."""

from gesam_engine.maps.map_bake import BakeIndex, bake_grid, load_bake, read_index, weights_id

__all__ = ["BakeIndex", "bake_grid", "load_bake", "read_index", "weights_id"]
