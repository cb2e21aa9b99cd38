"""The four notebooks, executed in order with papermill on a tiny synthetic configuration, as
Colab runs them: a fresh kernel each, in an empty folder, top to bottom. Notebook 2 trains under
JAX (what Colab's and Kaggle's TPUs run) and notebook 3 exports that run from a TensorFlow kernel.
The committed copies carry no outputs."""

import io
import json
import zipfile
from pathlib import Path

import pytest

from fingerspell import storage, train
from fingerspell.config import Config

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


@pytest.mark.parametrize("where", ["local", "bucket"])
def test_notebooks_run_top_to_bottom(tmp_path, where, request):
    """Each notebook finds what the one before wrote through `SHARED` alone: a folder, then a
    gs:// bucket (the emulator; the kernels inherit its environment)."""
    import papermill

    folder = tmp_path / "colab"  # the kernels' working folder: empty, like a new Colab session
    folder.mkdir()
    shared = request.getfixturevalue("bucket") if where == "bucket" else str(tmp_path / "shared")
    parameters = {
        "01_preprocess_tfrecords": {"DATA": "synthetic", "SYNTHETIC_SEQUENCES": 120, "WORKERS": 1},
        "02_train_model": {"EPOCHS": 1, "BATCH_SIZE": 16, "MAX_FRAMES": 64, "BACKEND": "jax"},
        "03_export_tflite": {"PARITY_SEQUENCES": 10},
        "04_inference_check": {"LIMIT": 20},
    }
    for name in NOTEBOOKS:
        papermill.execute_notebook(
            str(ROOT / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
            parameters={"SHARED": shared, **parameters[name]}, cwd=str(folder),
            kernel_name="python3", progress_bar=False,
        )  # fmt: skip
    zipped = io.BytesIO(storage.read_bytes(f"{shared}/submission/submission.zip"))
    with zipfile.ZipFile(zipped) as archive:
        assert sorted(archive.namelist()) == ["inference_args.json", "model.tflite"]
    assert train.run_info(f"{shared}/run")["backend"] == "jax"
    # RECIPE "auto" on 120 synthetic sequences: the demo recipe, with the sizes given here.
    config = Config.load(f"{shared}/run/config.json")
    assert (config.recipe, config.epochs, config.max_frames) == ("demo", 1, 64)
    report = json.loads(storage.read_text(f"{shared}/submission/check/report.json"))
    assert report["sequences"] == 20
    # Everything went to SHARED; from a bucket, the download cell copies submission.zip here.
    assert [p.name for p in folder.iterdir()] == (["submission.zip"] if where == "bucket" else [])
