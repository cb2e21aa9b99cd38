"""The four notebooks, executed in order with papermill on a tiny synthetic configuration, as
Colab runs them: a fresh kernel each, in an empty folder, top to bottom. Notebook 2 trains under
JAX (what Colab's and Kaggle's TPUs run) and notebook 3 exports that run from a TensorFlow kernel.
The committed copies carry no outputs."""

import json
from pathlib import Path

import pytest

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


def test_notebooks_run_top_to_bottom(tmp_path):
    import papermill

    work = tmp_path
    folder = tmp_path / "colab"  # the kernels' working folder: empty, like a new Colab session
    folder.mkdir()
    shared = {"SYNTHETIC_DIR": str(work / "data"), "RECORDS": str(work / "records")}
    parameters = {
        "01_preprocess_tfrecords": {**shared, "DATA": "synthetic", "SYNTHETIC_SEQUENCES": 120,
                                    "WORKERS": 1},
        "02_train_model": {"RECORDS": shared["RECORDS"], "RUN": str(work / "run"), "EPOCHS": 1,
                           "BATCH_SIZE": 16, "MAX_FRAMES": 64, "BACKEND": "jax"},
        "03_export_tflite": {"RECORDS": shared["RECORDS"], "RUN": str(work / "run"),
                             "SUBMISSION": str(work / "submission"), "PARITY_SEQUENCES": 10},
        "04_inference_check": {"RECORDS": shared["RECORDS"],
                               "SUBMISSION": str(work / "submission" / "submission.zip"),
                               "REPORT": str(work / "check"), "LIMIT": 20},
    }  # fmt: skip
    for name in NOTEBOOKS:
        papermill.execute_notebook(
            str(ROOT / f"{name}.ipynb"), str(work / f"{name}.ipynb"), parameters=parameters[name],
            cwd=str(folder), kernel_name="python3", progress_bar=False,
        )  # fmt: skip
    assert (work / "submission" / "submission.zip").exists()
    assert json.loads((work / "run" / "run.json").read_text())["backend"] == "jax"
    report = json.loads((work / "check" / "report.json").read_text())
    assert report["sequences"] == 20
