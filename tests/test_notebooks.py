"""The four notebooks, executed in order with papermill on a tiny synthetic configuration, as
Colab runs them: a fresh kernel each, in an empty folder, top to bottom. Notebook 2 trains under
JAX (what Colab's and Kaggle's TPUs run) and notebook 3 exports that run from a TensorFlow kernel.
The committed copies carry no outputs."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fingerspell import align, recipes, records, runs, storage
from fingerspell.config import Config
from fingerspell.synthetic import generator
from tests.conftest import files_under

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["01_preprocess_tfrecords", "02_train_model", "03_export_tflite",
             "04_inference_check"]  # fmt: skip


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_are_stripped_and_define_nothing(name):
    notebook = json.loads((ROOT / f"{name}.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert ["parameters"] in [c["metadata"].get("tags") for c in code]
    source = "\n".join("".join(c["source"]) for c in code)
    assert "def " not in source and "class " not in source and "lambda" not in source


def real_sized_data(folder: Path) -> str:
    """A competition-layout folder whose train.csv has the size of real data (the recipes'
    threshold: 20,000 rows) and landmarks for 120 of them; preprocessing counts the rest as
    missing from their parquet file."""
    generator.write_dataset(folder, 120, seed=3)
    table = pd.read_csv(folder / "train.csv")
    extra = table.sample(recipes.COMPETITION_ROWS - len(table), replace=True, random_state=0)
    extra["sequence_id"] = 10**9 + np.arange(len(extra))  # in no parquet file
    pd.concat([table, extra]).to_csv(folder / "train.csv", index=False)
    return str(folder)


@pytest.mark.slow
def test_notebooks_run_top_to_bottom(tmp_path, bucket):
    """Each notebook finds what the one before wrote through `SHARED` alone, here a gs:// bucket
    (the emulator; the kernels inherit its environment). The data has the real data's size, so
    RECIPE "auto" must choose `competition`, shortened to 2 epochs with CutMix after the first:
    notebook 2 plans, trains the warm-up, aligns into the run folder and trains on with CutMix,
    leaving the records as notebook 1 wrote them. (One pass: the synthetic default's `DATA` is
    `environment.resolve_data`'s, tested in test_buckets.)"""
    import papermill

    folder = tmp_path / "colab"  # the kernels' working folder: empty, like a new Colab session
    folder.mkdir()
    shared, data, recipe = bucket, real_sized_data(tmp_path / "kaggle"), "competition"
    parameters = {
        "01_preprocess_tfrecords": {"DATA": data, "SYNTHETIC_SEQUENCES": 120, "WORKERS": 1},
        "02_train_model": {"PRESET": "tiny", "EPOCHS": 2, "CUTMIX_AFTER": 1, "BATCH_SIZE": 16,
                           "MAX_FRAMES": 64, "BACKEND": "jax", "ALLOW_CPU": True},
        "03_export_tflite": {"PARITY_SEQUENCES": 10, "PRECISION": "fp32"},
        "04_inference_check": {"LIMIT": 20, "VIDEO": str(ROOT / "tests" / "media" / "photos.mp4")},
    }  # fmt: skip
    for name in NOTEBOOKS:
        if name == "02_train_model":
            written = files_under(f"{shared}/records")  # notebook 1's; the rest only read them
        papermill.execute_notebook(
            str(ROOT / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
            parameters={"SHARED": shared, **parameters[name]}, cwd=str(folder),
            kernel_name="python3", progress_bar=False,
        )  # fmt: skip
    zipped = io.BytesIO(storage.read_bytes(f"{shared}/submission/submission.zip"))
    with zipfile.ZipFile(zipped) as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
    assert runs.run_info(f"{shared}/run")["backend"] == "jax"
    # The recipe chosen, with the sizes given here; the rest is the recipe's.
    config = Config.load(f"{shared}/run/config.json")
    assert (config.recipe, config.epochs, config.max_frames) == (recipe, 2, 64)
    assert config.augment == recipes.train_config(recipe).augment and config.cutmix_after == 1
    # The recipe's CutMix happened: off in the warm-up, then on with the run's own alignments;
    # the records are as notebook 1 wrote them (on Kaggle they may be read-only).
    assert runs.load_history(f"{shared}/run").cutmix.tolist() == [0.0, 1.0]
    assert runs.run_info(f"{shared}/run")["cutmix_from_epoch"] == 1
    assert align.is_finished(f"{shared}/run") and files_under(f"{shared}/records") == written
    trained = json.loads((tmp_path / "02_train_model.ipynb").read_text())
    assert "training_gflop_per_sequence" in json.dumps(trained["cells"])  # the plan cell ran
    meta = records.load_metadata(f"{shared}/records")
    assert meta["options"]["supplemental"] == (recipe == "competition")
    assert meta["rejected"] == (recipes.COMPETITION_ROWS - 120 if recipe == "competition" else 0)
    parity = json.loads(storage.read_text(f"{shared}/submission/parity/report.json"))
    # fp32: the JAX-trained weights, exported by TensorFlow, decode exactly as Keras does (fp16's
    # near-ties on a 2-epoch model flipped 3 of 10; its bounds are test_export's).
    assert parity["sequences"] == 10 and parity["keras_parity"] == 1.0
    exported = json.loads((tmp_path / "03_export_tflite.ipynb").read_text())
    assert f"recipe {recipe!r}" in json.dumps(exported["cells"])  # notebook 3 says which
    report = json.loads(storage.read_text(f"{shared}/submission/check/report.json"))
    assert report["sequences"] == 20
    # The video cell: real photos → MediaPipe → the submission's text and a picture
    transcripts = pd.read_csv(storage.readable(f"{shared}/submission/check/videos/transcripts.csv"),
                              keep_default_na=False)  # fmt: skip
    assert transcripts.video.tolist() == ["photos.mp4"] and transcripts.rejected[0] == ""
    assert storage.read_bytes(transcripts.picture[0])[:4] == b"\x89PNG"
    # Everything went to SHARED; from a bucket, the download cell copies submission.zip here.
    assert [p.name for p in folder.iterdir()] == ["submission.zip"]
