from gesam_engine.data.sources.split import assign_split, kit_families, matches_kit


def test_kits_sharing_enough_sounds_are_one_family() -> None:
    kits = ["s/A"] * 10 + ["s/B"] * 10 + ["s/C"] * 10 + ["s/D"] * 10
    pairs = [(0, 10), (1, 11)]  # A and B share 2 of 10 sounds
    pairs += [(20, 30)]  # C and D share 1 of 10
    families = kit_families(kits, pairs, link_fraction=0.2)
    assert families == {"s/A": "s/A", "s/B": "s/A", "s/C": "s/C", "s/D": "s/D"}
    assert kit_families(kits, pairs, link_fraction=0.1)["s/D"] == "s/C"


def test_a_content_twice_in_one_kit_counts_once() -> None:
    kits = ["s/A", "s/A", "s/A", "s/B", "s/B"]
    keys = ["x", "x", "y", "x", "z"]
    # A holds {x, y}; x is copied in B: 1 of 2 of A's contents
    assert kit_families(kits, [(0, 3), (1, 3)], 0.5, keys)["s/B"] == "s/A"
    assert kit_families(kits, [(0, 3), (1, 3)], 0.6, keys)["s/B"] == "s/B"


def test_links_are_transitive() -> None:
    kits = ["s/A", "s/B", "s/C"]
    families = kit_families(kits, [(0, 1), (1, 2)], 0.5)
    assert set(families.values()) == {"s/A"}


def test_named_kits_go_to_validation_with_their_family_and_the_rest_fits_the_fraction() -> None:
    sizes = {f"h/k{i}": 10 for i in range(20)} | {"h/Colombo": 10, "f/variant": 10}
    families = {k: k for k in sizes} | {"f/variant": "h/Colombo"}
    split = assign_split(sizes, families, val_fraction=0.25, seed=3, forced_val=["Colombo"])
    assert split["h/Colombo"] == split["f/variant"] == "val"
    n_val = sum(sizes[k] for k, s in split.items() if s == "val")
    assert 20 < n_val <= 0.25 * sum(sizes.values())
    assert set(split) == set(sizes)  # every kit on exactly one side


def test_the_split_is_fixed_by_the_seed() -> None:
    sizes = {f"k{i}": i + 1 for i in range(30)}
    families = {k: k for k in sizes}
    a = assign_split(sizes, families, 0.2, seed=0)
    assert a == assign_split(sizes, families, 0.2, seed=0)
    assert any(assign_split(sizes, families, 0.2, seed=s) != a for s in range(1, 5))
    assert set(assign_split(sizes, families, 0.0, seed=0).values()) == {"train"}


def test_kit_names_match_with_or_without_the_source() -> None:
    assert matches_kit("hydrogen/HardElectro1", ["HardElectro1"])
    assert matches_kit("hydrogen/HardElectro1", ["hydrogen/HardElectro1"])
    assert not matches_kit("hydrogen/HardElectro1", ["fluid/HardElectro1", "HardElectro"])
