"""Weight averaging (EMA) and CTC-aligned CutMix, on and off, at one fixed budget; and how far
`align` lands from the generator's true letter frames.

    python benchmarks/training_methods.py --data demo/data --records demo/records \\
        --aligner demo/run --work runs/methods

The records are copied into WORK and aligned there with the ALIGNER run (`align`), whose data
must be a synthetic dataset with its letter frames (`synth` writes them). Each variant then trains
the demo recipe (tiny, Config's epochs) with its settings through the command line, is exported,
and is scored exactly as the evaluator scores it on: a fresh-seed synthetic dataset (new
signers and phrases), and the honest development sets of `benchmarks/real_transfer.py`
(SILFA's held-out frames, and the same with the hands of people from a source the generator
never uses, each as words and as random strings). Never train on any of them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

VARIANTS = {  # name: [train] and [train.augment] values over the demo recipe
    "baseline": ({}, {}),
    "EMA": ({"ema": 0.99}, {}),
    "CutMix": ({}, {"cutmix": 0.5}),
    "EMA + CutMix": ({"ema": 0.99}, {"cutmix": 0.5}),
}


def alignment_error(data: str, records: str) -> dict:
    """`align`'s spans against the generator's: where each character's emission falls, and how
    far each character's first frame is from its true start (second character on)."""
    from fingerspell import records as records_module
    from fingerspell.synthetic import generator

    both = records_module.load_alignments(records).merge(generator.letter_frames(data),
                                                on=["sequence_id", "position"],
                                                suffixes=("", "_true"))  # fmt: skip
    both = both.merge(records_module.load_folds(records)[["sequence_id", "fold"]])
    figures = {}
    for name, part in (("every fold", both), ("fold 0 (the aligner's validation signers)",
                                               both[both.fold == 0])):  # fmt: skip
        inside = (part.frame >= part.start_true) & (part.frame < part.end_true)
        later = part[part.position > 0]
        error = (later.start - later.start_true).abs()
        figures[name] = {"characters": len(part),
                         "emission inside its true frames": round(inside.mean(), 4),
                         "start error median (frames)": float(error.median()),
                         "start error mean": round(error.mean(), 2),
                         "start error p90": float(np.percentile(error, 90))}  # fmt: skip
    return figures


def _run(*command: str) -> str:
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout


def _recipe(path: Path, train: dict, augment: dict) -> Path:
    lines = ["[preprocess]", "", "[train]"]
    lines += [f"{k} = {v}  # benchmark variant" for k, v in train.items()]
    lines += ["", "[train.augment]"]
    lines += [f"{k} = {v}  # benchmark variant" for k, v in augment.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the synthetic dataset the records hold")
    parser.add_argument("--records", required=True)
    parser.add_argument("--aligner", required=True, help="run whose posteriors align the records")
    parser.add_argument("--work", default="runs/methods")
    parser.add_argument("--fresh-sequences", type=int, default=300)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args()
    work = Path(args.work)
    records = work / "records"
    if not records.exists():
        shutil.copytree(args.records, records)
    print(_run("-m", "fingerspell", "align", "--run", args.aligner, "--records", str(records)))
    print(json.dumps(alignment_error(args.data, str(records)), indent=2))
    fresh = work / "fresh"
    if not (fresh / "train.csv").exists():
        _run("-m", "fingerspell", "synth", "--out", str(fresh), "--sequences",
             str(args.fresh_sequences), "--seed", "101", "--supplemental", "0")  # fmt: skip
    rows = []
    for name in args.variants:
        folder = work / name.replace(" ", "").replace("+", "_")
        recipe = _recipe(work / f"{folder.name}.toml", *VARIANTS[name])
        if not (folder / "submission.zip").exists():
            _run("-m", "fingerspell", "train", "--records", str(records), "--out",
                 str(folder / "run"), "--recipe", str(recipe),
                 *(["--resume"] if (folder / "run" / "backup").exists() else []))  # fmt: skip
            _run("-m", "fingerspell", "export", "--run", str(folder / "run"), "--out", str(folder))
        history = pd.read_csv(folder / "run" / "history.csv")
        row = {"variant": name, "val_score (fold 0, best)": round(history.val_score.max(), 4)}
        _run("-m", "fingerspell", "check", "--submission", str(folder / "submission.zip"),
             "--data", str(fresh), "--out", str(folder / "fresh"))  # fmt: skip
        report = json.loads((folder / "fresh" / "report.json").read_text())
        row["fresh synthetic"] = round(report["score"], 4)
        _run("benchmarks/real_transfer.py", "--submission", str(folder / "submission.zip"),
             "--work", str(folder / "honest"))  # fmt: skip
        for scored in json.loads((folder / "honest" / "summary.json").read_text()):
            row[scored["set"]] = scored["score"]
        rows.append(row)
        print(row, flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
