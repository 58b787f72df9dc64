"""Drum-class labels from file and folder names, by keyword, for colouring the map.

Matching rules (``label_for_path``), applied to one name at a time:

* A name is split into tokens at non-alphanumerics, camelCase boundaries and letter/digit
  boundaries, then lowercased: ``"HiHatClosed_02"`` -> ``hi hat closed 02``.
* A *short* keyword (at most 3 characters, no space or hyphen: ``hh``, ``bd``, ``tom``)
  matches a token that equals it, that is it plus one trailing letter (``tomh``, ``hhc``,
  ``cra``), or that is it glued to an articulation word from ``MODIFIERS`` on either side
  (``hhclosed``, ``openhat``). It never matches inside other words: ``chair`` is not ``ch``.
* A *long* keyword (4+ characters, or one with a space or hyphen) matches anywhere in the
  name with separators removed, so ``hi-hat``, ``hi hat`` and ``HiHat`` all meet ``hihat``.
* In one name the earliest match wins (ties: the longer keyword, then class order). The file
  name is tried first, then each folder from the nearest up to the scan root; no match at
  all gives ``config.unlabelled``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping

from gesam_engine.config import check, from_dict

DEFAULT_CLASSES: dict[str, tuple[str, ...]] = {
    "kick": ("kick", "kik", "kck", "bd", "bassdrum", "bass drum", "bass"),
    "snare": ("snare", "snr", "sd", "sn", "rim", "rimshot", "rs", "sidestick"),
    "hihat": (
        "hihat", "hi-hat", "hi hat", "hat", "hh", "oh", "ch", "cymbal", "cym", "crash",
        "ride", "rd", "cr", "china", "splash", "bell",
    ),
    "tom": ("tom", "tm", "floor", "flr", "toms", "ht", "mt", "lt", "ft"),
    "clap": ("clap", "clp", "handclap", "claps", "snap", "cp"),
}

DEFAULT_COLORS: dict[str, str] = {
    "kick": "#e6194b",
    "snare": "#3cb44b",
    "hihat": "#ffe119",
    "tom": "#4363d8",
    "clap": "#f58231",
    "other": "#a9a9a9",
}

# Articulation words that sample packs glue onto a short keyword ("hhopen", "openhat").
MODIFIERS: frozenset[str] = frozenset(
    {
        "open", "closed", "close", "pedal", "foot", "half", "semi", "choke", "hi", "high",
        "lo", "low", "mid", "soft", "hard", "med", "acc", "ghost", "top", "bottom",
    }
)

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """Keyword lists per drum class, a colour per class, and the label for unmatched files."""

    classes: dict[str, tuple[str, ...]] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_CLASSES)
    )
    colors: dict[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_COLORS))
    unlabelled: str = "other"

    def __post_init__(self) -> None:
        check(len(self.classes) > 0, "labels.classes must name at least one class")
        check(self.unlabelled.strip() != "", "labels.unlabelled must be a non-empty name")
        check(
            self.unlabelled not in self.classes,
            f"labels.unlabelled {self.unlabelled!r} must not also be a class in labels.classes",
        )
        for name, keywords in self.classes.items():
            check(name.strip() != "", "labels.classes has an empty class name")
            check(len(keywords) > 0, f"labels.classes.{name} needs at least one keyword")
            for kw in keywords:
                check(
                    _compact(kw) != "",
                    f"labels.classes.{name} keyword {kw!r} must contain a letter or digit",
                )
        for name in [*self.classes, self.unlabelled]:
            color = self.colors.get(name)
            check(
                color is not None and _COLOR.fullmatch(color) is not None,
                f"labels.colors.{name} must be a colour '#rrggbb', got {color!r}; "
                "give every class (and the unlabelled name) a colour in [labels.colors]",
            )
        unused = sorted(set(self.colors) - set(self.classes) - {self.unlabelled})
        check(not unused, f"labels.colors names unknown class(es) {unused}")

    @property
    def names(self) -> list[str]:
        """Class names in configured order, followed by the unlabelled name."""
        return [*self.classes, self.unlabelled]


def load_label_config(data: Mapping[str, Any] | None) -> LabelConfig:
    """Build a LabelConfig from the TOML ``[labels]`` table; unknown keys raise ConfigError."""
    return from_dict(LabelConfig, data, "labels")


def tokenize(name: str) -> list[str]:
    """Lowercased tokens of one file or folder name: ``"HH2_07"`` -> ``["hh", "2", "07"]``."""
    tokens: list[str] = []
    for chunk in re.split(r"[\W_]+", name):
        current = ""
        for i, ch in enumerate(chunk):
            if current:
                prev = chunk[i - 1]
                nxt = chunk[i + 1] if i + 1 < len(chunk) else ""
                boundary = (
                    prev.isdigit() != ch.isdigit()
                    or (prev.islower() and ch.isupper())
                    or (prev.isupper() and ch.isupper() and nxt.islower())
                )
                if boundary:
                    tokens.append(current.lower())
                    current = ""
            current += ch
        if current:
            tokens.append(current.lower())
    return tokens


def _compact(text: str) -> str:
    """Lowercase alphanumerics only: the form long keywords are matched in."""
    return "".join(tokenize(text))


def _is_short(keyword: str) -> bool:
    return len(keyword) <= 3 and re.search(r"[\s\-_]", keyword) is None


def _short_matches(keyword: str, token: str) -> bool:
    """Whether a short keyword names this whole token (see the module docstring)."""
    if token == keyword:
        return True
    if token.startswith(keyword):
        rest = token[len(keyword):]
        return (len(rest) == 1 and rest.isalpha()) or rest in MODIFIERS
    if token.endswith(keyword):
        return token[: -len(keyword)] in MODIFIERS
    return False


def label_for_name(name: str, config: LabelConfig) -> str | None:
    """The class whose keyword occurs earliest in one name, or None when nothing matches."""
    tokens = tokenize(name)
    compact = "".join(tokens)
    starts = []
    pos = 0
    for tok in tokens:
        starts.append(pos)
        pos += len(tok)
    best: tuple[int, int, int] | None = None  # (position, -keyword length, class index)
    best_class: str | None = None
    for class_index, (cls, keywords) in enumerate(config.classes.items()):
        for kw in keywords:
            key = _compact(kw)
            if _is_short(kw.lower()):
                hits = [s for s, tok in zip(starts, tokens) if _short_matches(key, tok)]
            else:
                found = compact.find(key)
                hits = [found] if found >= 0 else []
            for hit in hits[:1]:
                rank = (hit, -len(key), class_index)
                if best is None or rank < best:
                    best, best_class = rank, cls
    return best_class


def label_for_path(path: Path, root: Path | None, config: LabelConfig) -> str:
    """Label a file by its stem, else its folders from nearest up to ``root`` (exclusive).

    With ``root`` None, or a path outside ``root``, every parent folder is considered.
    """
    path = Path(path)
    names = [path.stem]
    parents = list(path.parent.parts)
    if root is not None:
        try:
            parents = list(path.parent.relative_to(root).parts)
        except ValueError:
            pass
    names.extend(p for p in reversed(parents) if p not in (path.anchor, "", "."))
    for name in names:
        label = label_for_name(name, config)
        if label is not None:
            return label
    return config.unlabelled
