"""Splitting a corpus into training and validation by kit, never by sound.

Kits that share sounds (the same cymbals in two packages, a GM kit and its variant) are one
*family*: two kits are linked when at least ``link_fraction`` of either kit's distinct sounds
have an exact or near copy in the other. A family goes wholly to one side, so no recording
session is heard on both sides.

Validation gets the families of the named validation kits first (those of models/default),
then families in a seeded random order while they fit under ``val_fraction`` of all sounds.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np


def _find(parent: dict[str, str], a: str) -> str:
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def kit_families(
    kits: Sequence[str],
    pairs: Iterable[tuple[int, int]],
    link_fraction: float = 0.1,
    keys: Sequence[str] | None = None,
) -> dict[str, str]:
    """Family of every kit: the family's first kit in sorted order.

    ``kits[i]`` is the kit of sound ``i``; ``pairs`` are (i, j) of sounds that are the same
    (exact or near copies). ``keys[i]`` (default: ``i``) is sound ``i``'s content, so a kit
    holding one content twice counts it once.
    """
    key = (lambda i: keys[i]) if keys is not None else (lambda i: str(i))
    members: dict[str, set[str]] = {}
    for i, kit in enumerate(kits):
        members.setdefault(kit, set()).add(key(i))
    shared: dict[tuple[str, str], set[str]] = {}  # (kit a, kit b) -> contents of a copied in b
    for i, j in pairs:
        a, b = kits[i], kits[j]
        if a == b:
            continue
        shared.setdefault((a, b), set()).add(key(i))
        shared.setdefault((b, a), set()).add(key(j))
    parent = {k: k for k in members}
    for (a, b), sounds in sorted(shared.items()):
        if len(sounds) >= link_fraction * len(members[a]):
            ra, rb = _find(parent, a), _find(parent, b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {k: _find(parent, k) for k in sorted(members)}


def matches_kit(kit: str, names: Iterable[str]) -> bool:
    """Whether ``kit`` ("source/kit") is one of ``names`` (given as "source/kit" or a bare kit name)."""
    bare = kit.split("/", 1)[-1]
    return any(n == kit or n == bare for n in names)


def assign_split(
    sizes: Mapping[str, int],
    families: Mapping[str, str],
    val_fraction: float,
    seed: int,
    forced_val: Sequence[str] = (),
) -> dict[str, str]:
    """"train" or "val" for every kit in ``sizes`` (kit -> number of sounds), family by family."""
    family_size: dict[str, int] = {}
    for kit, n in sizes.items():
        family_size[families[kit]] = family_size.get(families[kit], 0) + n
    total = sum(family_size.values())
    target = val_fraction * total
    val: set[str] = {families[k] for k in sizes if matches_kit(k, forced_val)}
    filled = sum(family_size[f] for f in val)
    rest = sorted(f for f in family_size if f not in val)
    rng = np.random.default_rng(seed)
    for index in rng.permutation(len(rest)).tolist():
        fam = rest[index]
        if filled + family_size[fam] <= target:
            val.add(fam)
            filled += family_size[fam]
    return {kit: ("val" if families[kit] in val else "train") for kit in sorted(sizes)}
