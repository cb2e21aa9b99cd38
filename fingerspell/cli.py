"""`python -m fingerspell <stage> ...`: every stage of the pipeline from the command line."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from fingerspell.data import SILFA


def _synth(args: argparse.Namespace) -> None:
    from fingerspell.synthetic import generator

    out = generator.write_dataset(
        args.out, args.sequences, args.seed, args.supplemental, workers=args.workers
    )
    print(f"synthetic dataset written to {out}")


def _synth_report(args: argparse.Namespace) -> None:
    import pandas as pd

    from fingerspell.synthetic import report as synth_report

    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(synth_report.compare(args.data, args.silfa).to_string())
    picture = synth_report.plot_side_by_side(args.data, args.silfa, args.plot)
    print(f"side-by-side picture: {picture}")


def _preprocess(args: argparse.Namespace) -> None:
    from fingerspell import recipes, records

    given = _given(args, recipes.PREPROCESS_OPTIONS)
    options = {**recipes.preprocess_options(args.recipe), **given}
    meta = records.preprocess(args.data, args.out, workers=args.workers, **options)
    run = meta["last_run"]
    print(
        f"{meta['written']} sequences written, {meta['rejected']} rejected (see rejects.csv); "
        f"per fold {meta['per_fold']}; this run: {run['sequences']} in {run['seconds']} s"
    )


def _train(args: argparse.Namespace) -> None:
    from fingerspell import devices, install, processes

    if args.wandb:
        install.require_wandb()  # said before Keras starts

    backend = devices.use_backend(args.backend)  # before anything imports Keras
    spread = (args.coordinator, args.num_processes, args.process_id)
    if processes.wants_processes(*spread, multi_host=args.multi_host):
        if backend != "jax":
            raise SystemExit(f"train: several processes train on JAX, not {backend}: "
                             "pass --backend jax")  # fmt: skip
        processes.join_processes(*spread, timeout=args.join_timeout)  # before anything computes
    from fingerspell import plan, recipes, train

    given = _given(args, {"preset", "epochs", "batch_size", "max_frames", "seed", "precision"})
    if args.fold is not None:
        given["val_fold"] = -1 if args.fold == "all" else int(args.fold)
    config = recipes.train_config(args.recipe, **given)
    if args.plan:
        projection = plan.project_run(args.records, config)
        if devices.local_hardware().writes:  # one report for a multi-process run
            print("\n".join(f"{name}: {value:.4g}" if isinstance(value, float) else
                             f"{name}: {value}" for name, value in projection.items()))  # fmt: skip
        return
    if args.out is None:
        raise SystemExit("train: --out is required (unless --plan)")
    try:
        resume = {"yes": True, "auto": "auto"}.get(args.resume, False)
        train.train(args.records, args.out, config, resume=resume, wandb=args.wandb,
                    allow_cpu=args.allow_cpu, time_limit_hours=args.time_limit)  # fmt: skip
    except processes.ProcessLost as error:
        processes.exit_with_message(str(error))  # at once: JAX's shutdown would wait for the dead
    if devices.local_hardware().writes:
        print(f"run written to {args.out}")


def _align(args: argparse.Namespace) -> None:
    from fingerspell import align, records

    done = align.align(args.run, args.records, args.batch_size)
    print(f"{done['aligned']} sequences aligned, {done['unaligned']} too short to align (fewer "
          "frames than characters and a blank around each), "
          f"{done['kept']} files kept from before, in {done['seconds']} s: "
          f"{args.records}/{records.ALIGNMENTS}")  # fmt: skip


def _export(args: argparse.Namespace) -> None:
    from fingerspell import export, storage

    submission = export.export(args.run, args.out, args.precision)
    size = storage.size(storage.join(args.out, "model.tflite")) / 2**20
    print(f"{submission} written: model.tflite {size:.2f} MB ({args.precision}), "
          "inference_args.json")  # fmt: skip


def _check(args: argparse.Namespace) -> None:
    from fingerspell import check, storage

    out = args.out or (storage.parent(args.submission) if args.submission.endswith(".zip")
                       else args.submission)  # fmt: skip
    check.check(args.submission, args.data, out, args.records, args.fold, args.limit, args.run)
    print(storage.read_text(storage.join(out, "report.md")))


def _landmarks(args: argparse.Namespace) -> None:
    from fingerspell import video

    done = video.landmarks(args.videos, args.out, args.phrases, workers=args.workers)
    print(f"{done['written']} sequences written, {done['rejected']} rejected (see rejects.csv) "
          f"in {args.out}; this run: {done['redone']} sources, {done['frames']} frames in "
          f"{done['seconds']} s ({done['frames_per_second']} frames/s), {done['kept']} kept "
          "from before")  # fmt: skip


def _transcribe(args: argparse.Namespace) -> None:
    from fingerspell import transcribe

    if args.camera is not None:
        from fingerspell import live

        segments = live.run_live(args.camera, args.submission, args.out)
        print(f"{len(segments)} words" + (f"; landmarks and train.csv in {args.out}"
                                          if args.out else ""), file=sys.stderr)  # fmt: skip
        return
    if not args.videos:
        raise SystemExit("error: transcribe needs VIDEO... or --camera")
    results = transcribe.transcribe(args.videos, args.submission, args.out, args.workers,
                                    annotated_video=args.annotated_video)  # fmt: skip
    for row in results.itertuples(index=False):
        print(f"{row.video}\t{row.text}" if not row.rejected else
              f"{row.video}\t(not read: {row.rejected})")  # fmt: skip
    if args.out:
        print(f"pictures and transcripts.csv in {args.out}", file=sys.stderr)


def _demo(args: argparse.Namespace) -> None:
    from fingerspell import devices

    devices.use_backend(args.backend)
    from fingerspell import demo
    from fingerspell.config import Config

    config = Config(precision=args.precision or "auto")
    config.epochs = args.epochs or config.epochs
    report = demo.run_demo(args.out, args.sequences, config)
    print(demo.summary(report, args.out))


def _given(args: argparse.Namespace, names: set[str]) -> dict:
    """The options the user gave (not left at None): they override the recipe's values."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _recipe_option(parser: argparse.ArgumentParser) -> None:
    from fingerspell.recipes import names

    parser.add_argument("--recipe", default="demo",
                        help=f"{' or '.join(names())} (fingerspell/data/recipes), or a forked "
                             ".toml file; the options below override its values")  # fmt: skip


def _hardware_options(parser: argparse.ArgumentParser) -> None:
    from fingerspell.devices import BACKENDS, PRECISIONS

    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="Keras backend; auto: JAX on a TPU, else as Keras is configured",
    )
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="auto: bf16 on TPUs and recent GPUs, fp16 on older GPUs, "
                             "fp32 on CPUs")  # fmt: skip


def _processes_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "several processes (JAX)",
        "one process a host, each started with the same command; "
        "unset options come from KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES, _PROCESS_ID",
    )
    group.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    group.add_argument("--num-processes", type=int, help="processes in the run")
    group.add_argument("--process-id", type=int, help="this process: 0 … N − 1")
    group.add_argument(
        "--multi-host",
        action="store_true",
        help="let JAX find the other processes (TPU pod slice, SLURM, Open MPI)",
    )
    group.add_argument(
        "--join-timeout",
        type=float,
        default=300,
        metavar="SECONDS",
        help="end with a message if not every process joined by then",
    )


def build_parser() -> argparse.ArgumentParser:
    from fingerspell.config import PRESETS, SYNTHETIC_SEQUENCES, Config

    parser = argparse.ArgumentParser(prog="python -m fingerspell", description=__doc__)
    stages = parser.add_subparsers(dest="stage", required=True, metavar="stage")

    synth = stages.add_parser("synth", help="write a synthetic dataset in the Kaggle layout")
    synth.add_argument("--out", required=True, help="dataset folder to create")
    synth.add_argument("--sequences", type=int, default=SYNTHETIC_SEQUENCES,
                       help="train sequences")  # fmt: skip
    synth.add_argument(
        "--supplemental",
        type=int,
        default=None,
        help="supplemental sequences (default: a quarter of --sequences)",
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                       help="processes, one parquet file each at a time")  # fmt: skip
    synth.set_defaults(handler=_synth)

    report = stages.add_parser("synth-report", help="synthetic vs real MediaPipe statistics")
    report.add_argument("--data", required=True, help="a synthetic dataset folder")
    report.add_argument("--silfa", default=str(SILFA),
                        help="the SILFA folder (default: the copy shipped with the package)")
    report.add_argument("--plot", default="runs/synth_vs_real.png", help="picture to write")
    report.set_defaults(handler=_synth_report)

    pre = stages.add_parser("preprocess", help="parquet landmarks → GZIP TFRecord folds")
    pre.add_argument("--data", required=True, help="competition-layout folder")
    pre.add_argument("--out", required=True, help="records folder: local, gs:// or ram://")
    _recipe_option(pre)
    pre.add_argument("--folds", type=int, help="default 4")
    pre.add_argument(
        "--landmarks",
        choices=["default", "all"],
        help="stored landmarks: default ≈ hands, pose, lips (127); all = 543",
    )
    pre.add_argument("--supplemental", action="store_true", default=None,
                     help="also the supplemental split")  # fmt: skip
    pre.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)))
    pre.add_argument("--chunk", type=int, help="sequences per TFRecord file (default 256)")
    pre.set_defaults(handler=_preprocess)

    default = Config()
    tr = stages.add_parser("train", help="train the Conv1D + Transformer CTC model")
    tr.add_argument("--records", required=True, help="records folder from preprocess")
    tr.add_argument("--out", help="run folder (config, checkpoints, logs)")
    _recipe_option(tr)
    tr.add_argument("--preset", choices=list(PRESETS))
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--batch-size", type=int, help="per device")
    tr.add_argument("--max-frames", type=int, help="frame budget")
    tr.add_argument("--fold", help="validation fold, or 'all' to train on every fold")
    tr.add_argument("--seed", type=int)
    _hardware_options(tr)
    tr.add_argument("--plan", action="store_true",
                    help="train nothing: time one step and the input pipeline here, project "
                         "the run's wall time here and on Kaggle's and Colab's TPUs")  # fmt: skip
    tr.add_argument(
        "--resume",
        nargs="?",
        const="yes",
        choices=["yes", "auto"],
        help="continue the run in --out (made with the same options); "
        "'auto': continue it if there is one, else start it",
    )
    tr.add_argument(
        "--time-limit",
        type=float,
        metavar="HOURS",
        help="stop after the last whole epoch that ends within HOURS",
    )
    tr.add_argument(
        "--allow-cpu",
        action="store_true",
        help="train a recipe that needs an accelerator on the CPU anyway",
    )
    _processes_options(tr)
    tr.add_argument("--wandb", action="store_true", help="log to W&B (offline without a key)")
    tr.set_defaults(handler=_train)

    al = stages.add_parser("align", help="each label character's frames, from a trained run "
                                         "(for CutMix): RECORDS/alignments")  # fmt: skip
    al.add_argument("--run", required=True, help="run folder from train")
    al.add_argument("--records", required=True, help="records folder to align (local or gs://)")
    al.add_argument("--batch-size", type=int, default=32)
    al.set_defaults(handler=_align)

    ex = stages.add_parser("export", help="trained run → model.tflite + submission.zip")
    ex.add_argument("--run", required=True, help="run folder from train")
    ex.add_argument("--out", required=True, help="folder for the submission files")
    ex.add_argument("--precision", default="fp16", choices=["fp16", "fp32", "int8-dynamic"])
    ex.set_defaults(handler=_export)

    ch = stages.add_parser("check", help="run a submission as the competition's evaluator does")
    ch.add_argument("--submission", required=True, help="submission.zip or its folder")
    ch.add_argument("--data", required=True, help="competition-layout folder")
    ch.add_argument("--records", help="records folder (its folds.csv), needed with --fold")
    ch.add_argument("--fold", type=int, help="check only this fold's sequences")
    ch.add_argument("--limit", type=int, help="at most this many sequences")
    ch.add_argument("--run", help="run folder: also report parity with the Keras model")
    ch.add_argument("--out", help="report folder (default: beside the submission)")
    ch.set_defaults(handler=_check)

    lm = stages.add_parser(
        "landmarks",
        help="videos or photo folders → the competition layout "
        "(MediaPipe Holistic, in its own environment)",
    )
    lm.add_argument(
        "--videos",
        nargs="+",
        required=True,
        help="video files, folders of images (one a frame), or folders of videos",
    )
    lm.add_argument("--out", required=True, help="dataset folder: local or gs://")
    lm.add_argument("--phrases", help="csv of video (file or folder name), phrase "
                                      "[, participant_id]")  # fmt: skip
    lm.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                    help="MediaPipe processes, one source each at a time")  # fmt: skip
    lm.set_defaults(handler=_landmarks)

    tx = stages.add_parser(
        "transcribe",
        help="videos → text, through a submission's model "
        "run as the evaluator runs it (no TensorFlow)",
    )
    tx.add_argument("videos", nargs="*", help="video files or folders of images")
    tx.add_argument("--camera", nargs="?", const="0", metavar="INDEX|VIDEO",
                    help="live: read camera INDEX (default 0), or a video played at its own "
                         "frame rate, printing each word as the hands drop")  # fmt: skip
    tx.add_argument("--submission", required=True, help="submission.zip or its folder")
    tx.add_argument("--out", help="folder for a picture per video and transcripts.csv; with "
                                  "--camera, each word's landmarks in the competition layout")
    tx.add_argument("--annotated-video", action="store_true",
                    help="with --out: also each video with its landmarks and the text read "
                         "so far drawn on it")  # fmt: skip
    tx.add_argument("--workers", type=int, default=1, help="MediaPipe processes")
    tx.set_defaults(handler=_transcribe)

    de = stages.add_parser("demo", help="synth → preprocess → train tiny → export → check")
    de.add_argument("--out", required=True, help="folder for everything the demo writes")
    de.add_argument("--sequences", type=int, default=SYNTHETIC_SEQUENCES)
    de.add_argument("--epochs", type=int, help=f"default {default.epochs}")
    _hardware_options(de)
    de.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    needs_tensorflow = args.stage not in {"landmarks", "transcribe"}
    if needs_tensorflow and importlib.util.find_spec("tensorflow") is None:  # see pyproject
        raise SystemExit(
            "fingerspell needs TensorFlow for tf.data and export, under any Keras "
            "backend: pip install tensorflow-cpu (or tensorflow, its GPU build)"
        )
    from fingerspell.devices import NoAccelerator
    from fingerspell.reader import DataError

    try:
        args.handler(args)
    except (DataError, FileNotFoundError, FileExistsError, ModuleNotFoundError,
            NoAccelerator) as error:  # fmt: skip
        # Mistakes the user can fix: the message says what and where; a traceback would bury it.
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
