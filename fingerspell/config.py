"""One dataclass holds every knob of a run; it is saved in the run folder so export needs nothing
else. Notebooks and the command line override fields by name."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from fingerspell import storage

PRESETS: dict[str, dict[str, int | float]] = {
    # dim, transformer blocks (each preceded by 3 conv blocks), heads, conv kernel, expansion
    "tiny": {"dim": 64, "blocks": 2, "heads": 4, "kernel": 15, "expand": 2, "dropout": 0.1},
    "small": {"dim": 192, "blocks": 3, "heads": 4, "kernel": 17, "expand": 2, "dropout": 0.2},
    "base": {"dim": 256, "blocks": 4, "heads": 8, "kernel": 17, "expand": 2, "dropout": 0.2},
    # 18.2 M parameters: 34.8 MB at fp16, the largest of these shapes under 38 MB (40 MB limit);
    # 86.9 ms p95 at 384 frames on one thread here (BENCHMARKS.md): size, not time, limits it.
    "large": {"dim": 384, "blocks": 6, "heads": 8, "kernel": 17, "expand": 2, "dropout": 0.2},
}


# The embedded default's size (train sequences): 4,000 lift every honest development set over
# 2,000 (BENCHMARKS.md, "honest development sets").
SYNTHETIC_SEQUENCES = 4000


@dataclass
class Augmentation:
    """Probabilities of each training-only augmentation (0 switches one off). No flip and no
    shift: the feature layer undoes both (see `augment.Augmenter`)."""

    rotate: float = 0.5  # 3D rotation, done in isotropic coordinates
    shear: float = 0.3
    scale: float = 0.5
    time_stretch: float = 0.5
    frame_mask: float = 0.3  # blank out a block of frames
    finger_drop: float = 0.2  # lose a few landmarks for the whole sequence
    concat: float = 0.0  # join two sequences and their phrases
    cutmix: float = 0.0  # swap in a run of another sequence's characters (needs `align`'s spans)


@dataclass
class Config:
    # Data: what the records hold (folds, stored columns) is in their metadata.json, not here.
    model_landmarks: str = "model"  # what the model reads; "model" = hands + pose + lips
    val_fold: int = 0  # -1 trains on every fold (no validation)
    max_frames: int = 160  # frame budget: longer sequences are resampled to it
    max_phrase: int = 64  # static label length (room for concatenated phrases)
    # Model
    preset: str = "tiny"
    # Training
    # 12: the demo's quarter hour on 2 slow cores. 20 took 25 min there; 12 read the real
    # development sets as well or better and synthetic ones 0.02 lower (BENCHMARKS.md, "The
    # demo's time").
    epochs: int = 12
    batch_size: int = 16  # per device (global: × devices); the demo reads better with 2× the steps
    learning_rate: float = 3e-3  # for one device; × √devices with the global batch (Adam's rule)
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    clip_norm: float = 1.0
    ema: float = 0.0  # momentum of the weights' moving average, validated and exported; 0: off
    seed: int = 42
    precision: str = "auto"  # auto: bf16 on TPUs and recent GPUs, fp16 on older GPUs, fp32 on CPUs
    steps_per_execution: int = 0  # 0: 32 on a TPU, else 1 (rounded down to divide an epoch)
    needs_accelerator: bool = False  # refuse to train on a CPU alone (unless allow_cpu)
    fallback: str | None = None  # the answer to an empty decode; None: chosen when training starts
    # Epochs trained before CutMix (`augment.cutmix`) starts: then the run aligns its training
    # folds with its own weights (into RUN/alignments; records `align` aligned are used as is).
    cutmix_after: int = 10
    augment: Augmentation = field(default_factory=Augmentation)
    recipe: str = "demo"  # the recipe these values started from (`recipes`): a record, not a knob

    @property
    def cutmix_from(self) -> int | None:
        """The first epoch (from 0) that CutMix is on, or None where it never is."""
        on = self.augment.cutmix > 0 and self.cutmix_after < self.epochs
        return max(self.cutmix_after, 0) if on else None

    @property
    def model(self) -> dict[str, int | float]:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {list(PRESETS)}")
        return PRESETS[self.preset]

    def save(self, path: str) -> None:
        storage.write_text(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str) -> Config:
        return cls.from_dict(json.loads(storage.read_text(path)))

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        values = dict(values)
        if isinstance(values.get("augment"), dict):
            values["augment"] = Augmentation(**values["augment"])
        return cls(**values)
