"""Named recipes: every shipped one loads, names only known fields, gives each value a reason,
round-trips through a run folder, and is picked by the size of the data."""

import re

import pytest

from fingerspell import recipes
from fingerspell.config import Config


def test_demo_is_the_config_defaults():
    assert recipes.train_config("demo") == Config()
    assert recipes.preprocess_options("demo") == {}


@pytest.mark.parametrize("name", recipes.names())
def test_every_value_of_a_shipped_recipe_carries_its_reason(name):
    text = (recipes.FOLDER / f"{name}.toml").read_text()
    assignments = [line for line in text.splitlines() if re.match(r"^\w+ *=", line)]
    assert all(re.search(r"= *\S.*  # \w", line) for line in assignments), assignments


def test_competition_recipe_sets_what_the_real_data_needs():
    config = recipes.train_config("competition")
    assert (config.max_frames, config.preset, config.recipe) == (384, "large", "competition")
    assert config.augment.concat > 0  # supplemental data pays only with sequence mixing
    assert config.ema > 0  # averaged weights are validated and exported
    assert recipes.preprocess_options("competition")["supplemental"] is True


def test_given_values_override_the_recipe_and_the_rest_stays():
    config = recipes.train_config("competition", epochs=3, augment={"rotate": 0.0})
    assert (config.epochs, config.max_frames) == (3, 384)
    assert (config.augment.rotate, config.augment.concat) == (0.0, 0.5)


@pytest.mark.parametrize("text, unknown", [
    ("[train]\nmax_frame = 384\n", "max_frame"),
    ("[train.augment]\nmixup = 0.5\n", "mixup"),
    ("[preprocess]\nworkerz = 2\n", "preprocess.workerz"),
    ("[export]\nprecision = 'fp16'\n", "export"),
])  # fmt: skip
def test_a_forked_recipe_with_an_unknown_name_is_refused(tmp_path, text, unknown):
    forked = tmp_path / "mine.toml"
    forked.write_text(text)
    with pytest.raises((ValueError, TypeError), match=unknown):
        recipes.load(str(forked))


def test_a_recipe_round_trips_through_the_run_folder(tmp_path):
    config = recipes.train_config("competition", epochs=7)
    config.save(str(tmp_path / "config.json"))
    assert Config.load(str(tmp_path / "config.json")) == config


def test_the_real_data_picks_the_competition_recipe():
    assert recipes.pick("auto", rows=67_208) == "competition"  # the real train.csv
    assert recipes.pick("auto", rows=2_000) == "demo"  # the synthetic default
    assert recipes.pick("my.toml", rows=2_000) == "my.toml"
