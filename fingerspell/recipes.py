"""Named recipes: a run's settings in a TOML file that reads like a config file, one reason per
value (`fingerspell/data/recipes/*.toml`). `demo` is Config's defaults; `competition` is for
Kaggle's real data. A recipe is a name or the path of a forked file (local or gs://).

[preprocess] holds `records.preprocess` options; [train] (and [train.augment]) holds Config
fields; a name that is neither is refused.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

from fingerspell import storage
from fingerspell.config import Config

FOLDER = Path(__file__).parent / "data" / "recipes"
PREPROCESS_OPTIONS = {"folds", "landmarks", "supplemental", "chunk"}
# Competition-sized data: the real train.csv alone has 67k rows; the synthetic default 4,000.
COMPETITION_ROWS = 20_000


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def load(recipe: str) -> dict:
    """A recipe's two sections, checked: {"preprocess": {...}, "train": {...}}."""
    path = FOLDER / f"{recipe}.toml" if recipe in names() else recipe
    if not storage.exists(path):
        raise FileNotFoundError(f"recipe {recipe!r} not found: a name of {names()} or a .toml file")
    values = tomllib.loads(storage.read_text(path))
    unknown = set(values) - {"preprocess", "train"}
    unknown |= {f"preprocess.{k}" for k in set(values.get("preprocess", {})) - PREPROCESS_OPTIONS}
    if unknown:
        raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
    Config.from_dict(values.get("train", {}))  # refuses unknown Config fields
    return {"preprocess": values.get("preprocess", {}), "train": values.get("train", {})}


def train_config(recipe: str, **overrides) -> Config:
    """The recipe's Config, then `overrides` (a notebook's or the command line's values); the
    config remembers the recipe it came from."""
    values = load(recipe)["train"]
    augment = {**values.get("augment", {}), **overrides.pop("augment", {})}
    config = Config.from_dict({**values, "augment": augment})
    return replace(config, recipe=recipe, **overrides)


def preprocess_options(recipe: str) -> dict:
    return load(recipe)["preprocess"]


def pick(recipe: str, rows: int) -> str:
    """"auto" → `competition` for data of the real competition's size (`rows` csv rows), else
    `demo`; any other value as given."""
    if recipe != "auto":
        return recipe
    return "competition" if rows >= COMPETITION_ROWS else "demo"
