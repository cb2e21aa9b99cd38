"""Where the notebooks run (Colab, Kaggle, local), what accelerator they have, where the data is."""

from __future__ import annotations

import os
import sys
from pathlib import Path

KAGGLE_DATA = Path("/kaggle/input/asl-fingerspelling")


def platform() -> str:
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "Colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ or Path("/kaggle").exists():
        return "Kaggle"
    return "local"


def accelerator() -> str:
    """'TPU ×n', 'GPU ×n (name)' or 'CPU', seen without starting a framework (which would claim
    the devices before the backend is chosen)."""
    from fingerspell import devices

    if chips := devices.tpu_chips():
        return f"TPU ×{chips}"
    if gpus := devices.gpu_names():
        return f"GPU ×{len(gpus)} ({gpus[0]})"
    return "CPU"


# The platforms' published limits on one session, in hours (they change: check the pages).
# Kaggle: 9 h a TPU session, 12 h a CPU or GPU one (https://www.kaggle.com/docs/notebooks, and
# https://www.kaggle.com/docs/tpu for the TPU's 20 h weekly quota). Colab: at most 12 h, often
# less on the free tier (https://research.google.com/colaboratory/faq.html).
SESSION_HOURS = {
    ("Kaggle", "TPU"): 9.0, ("Kaggle", "GPU"): 12.0, ("Kaggle", "CPU"): 12.0,
    ("Colab", "TPU"): 12.0, ("Colab", "GPU"): 12.0, ("Colab", "CPU"): 12.0,
}  # fmt: skip
WEEKLY_QUOTA_HOURS = {("Kaggle", "TPU"): 20.0, ("Kaggle", "GPU"): 30.0}
SESSION_MARGIN_HOURS = 0.5  # the cells after training, and an epoch longer than the longest


def time_limit_hours(requested: float | str | None) -> float | None:
    """Notebook 2's `TIME_LIMIT_HOURS`: "auto" is what is left of this platform's session (its
    length, less the time since this kernel started, less a margin; None locally: no limit); a
    number is taken as given; None is no limit."""
    if requested != "auto":
        return None if requested is None else float(requested)
    hours = SESSION_HOURS.get((platform(), accelerator().split()[0]))
    if hours is None:
        return None
    return max(hours - SESSION_MARGIN_HOURS - process_age_hours(), 0.0)


def process_age_hours(stat: str = "/proc/self/stat", uptime: str = "/proc/uptime") -> float:
    """Hours since this process started (the notebook's kernel: its session started no later),
    from Linux's process table; 0 where there is none."""
    try:
        # Field 22 is the start time in clock ticks after boot; the name (field 2) may hold spaces.
        ticks = int(Path(stat).read_text().rsplit(")", 1)[1].split()[19])
        since_boot = float(Path(uptime).read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    return max(since_boot - ticks / os.sysconf("SC_CLK_TCK"), 0.0) / 3600


def describe() -> str:
    """Platform, accelerator, cores and installed framework versions; imports no framework."""
    from fingerspell import install

    versions = ", ".join(f"{name} {v}" for name, v in install.installed_frameworks().items())
    return f"{platform()}, {accelerator()}, {os.cpu_count()} CPU cores; {versions}"


def resolve_data(data: str, synthetic_dir: str | Path = "data/synthetic",
                 sequences: int | None = None, seed: int = 0) -> str:  # fmt: skip
    """The dataset folder a notebook works on. "auto": the Kaggle competition data when it is
    attached, else the synthetic default (written on first use, reused after); "synthetic": always
    the synthetic default; anything else: that folder, which must hold train.csv."""
    if data == "auto" and (KAGGLE_DATA / "train.csv").exists():
        return str(KAGGLE_DATA)
    if data in ("auto", "synthetic"):
        from fingerspell.config import SYNTHETIC_SEQUENCES
        from fingerspell.synthetic import generator

        return generator.write_dataset(synthetic_dir, sequences or SYNTHETIC_SEQUENCES, seed,
                                       workers=os.cpu_count() or 1)  # fmt: skip
    from fingerspell import storage

    if not storage.exists(storage.join(data, "train.csv")):
        raise FileNotFoundError(f"{storage.join(data, 'train.csv')} not found: DATA must be a "
                                "folder (or gs:// URL) in the competition layout, 'auto' or "
                                "'synthetic'")  # fmt: skip
    return data


def shared_root(shared: str = "auto") -> str:
    """The folder through which the notebooks hand their outputs on (each Colab or Kaggle
    notebook is its own machine, so a relative folder written by one is not there for the next).
    "auto": this folder locally and on Colab (gone when the runtime ends), /kaggle/working on
    Kaggle (kept as the notebook's output: attach it as the next notebook's input); "drive":
    Google Drive on Colab (mounted here); a `gs://bucket/prefix` (see `authenticate_buckets`);
    or any other folder."""
    if shared == "auto":
        if platform() == "Colab":
            print("SHARED = 'auto' keeps outputs on this Colab runtime, which the next notebook "
                  "does not see: use 'drive' or a gs:// bucket to hand them on")  # fmt: skip
        return "/kaggle/working" if platform() == "Kaggle" else "."
    if shared == "drive":
        if platform() != "Colab":
            raise ValueError('SHARED = "drive" needs Colab; elsewhere name a folder or gs:// URL')
        from google.colab import drive

        drive.mount("/content/drive")
        return "/content/drive/MyDrive/fingerspell"
    return shared.rstrip("/")


def find_input(root: str, relative: str) -> str:
    """`root/relative`, where an earlier notebook wrote it; on Kaggle, when it is not there, the
    same folder in an attached notebook's output (/kaggle/input/<notebook>/relative)."""
    from fingerspell import storage

    path = storage.join(root, relative)
    if platform() == "Kaggle" and not storage.exists(path):
        attached = sorted(Path("/kaggle/input").glob(f"*/{relative}"))
        if attached:
            print(f"{relative}: using the attached notebook output {attached[0]}")
            return str(attached[0])
    return path


def records_data(records_dir: str, root: str) -> str:
    """The dataset a records folder was made from (its metadata.json names it). On Kaggle, when
    notebook 1 wrote it into its own working folder, the copy in that notebook's attached output."""
    from fingerspell import records, storage

    path = records.load_metadata(records_dir)["source"]["path"]
    working = "/kaggle/working/"
    if not storage.exists(storage.join(path, "train.csv")) and path.startswith(working):
        return find_input(root, path.removeprefix(working))
    return path


def authenticate_buckets(*paths: str | None) -> str:
    """Give TensorFlow's gs:// filesystem the user's Google credentials when any path is a
    bucket: Colab asks the signed-in user; Kaggle uses the notebook's Google Cloud add-on
    (Add-ons → Google Cloud Services); elsewhere the machine's own (`gcloud auth
    application-default login`). Says what it did."""
    buckets = [p for p in paths if p and str(p).startswith("gs://")]
    if not buckets:
        return "no bucket paths: nothing to authenticate"
    where = platform()
    if where == "Colab":
        from google.colab import auth

        auth.authenticate_user()
    elif where == "Kaggle":
        from kaggle_secrets import UserSecretsClient

        secrets = UserSecretsClient()
        secrets.set_tensorflow_credential(secrets.get_gcloud_credential())
    return f"{', '.join(buckets)}: {where} credentials"


def offer_download(path: str | Path):
    """A download for `path`: Colab's browser download, else a link (Kaggle, Jupyter). A file in
    a bucket is first copied into the working folder."""
    from IPython.display import FileLink

    from fingerspell import storage

    if storage.is_remote(path):
        local = storage.name(path)
        Path(local).write_bytes(storage.read_bytes(path))
        path = local
    if platform() == "Colab":
        from google.colab import files

        files.download(str(path))
        return f"downloading {path}"
    return FileLink(os.path.relpath(path))


# Colab's browser records the webcam (MediaRecorder) and hands the clip back as base64.
_RECORD_JS = """
async function record(seconds) {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  const preview = document.createElement('video');
  preview.srcObject = stream; preview.muted = true;
  document.body.appendChild(preview); await preview.play();
  const recorder = new MediaRecorder(stream); const chunks = [];
  recorder.ondataavailable = e => chunks.push(e.data);
  const stopped = new Promise(resolve => recorder.onstop = resolve);
  recorder.start(); await new Promise(resolve => setTimeout(resolve, seconds * 1000));
  recorder.stop(); await stopped;
  stream.getTracks().forEach(t => t.stop()); preview.remove();
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let text = ''; for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}
"""


def video_input(video: str | None, seconds: int = 6) -> list[str]:
    """What notebook 4's video cell reads: nothing for None; on Colab, "upload" (files picked in
    the browser) or "webcam" (a clip of `seconds` recorded there, as webcam.webm; the browser
    shows what it records, unmirrored); else the path itself."""
    if not video:
        return []
    if video in ("upload", "webcam") and platform() != "Colab":
        raise ValueError(f'VIDEO = "{video}" works on Colab; elsewhere give a path')
    if video == "upload":
        from google.colab import files

        return sorted(files.upload())  # saved in the working folder under their names
    if video == "webcam":
        import base64

        from google.colab.output import eval_js

        clip = base64.b64decode(eval_js(_RECORD_JS + f"record({seconds})"))
        Path("webcam.webm").write_bytes(clip)
        return ["webcam.webm"]
    return [video]
