"""Where files live. A local path and a `gs://` URL (or any scheme `tf.io.gfile` knows: ram://,
s3://…) take the same calls, so every folder a user names (data, records, runs, submissions,
reports) may be a bucket. Paths are plain strings; `join` builds them, never `pathlib`, which
would turn `gs://b/run` into a local folder `gs:/b/run`.

Writes go to a temporary name and are renamed when complete, so a killed process never leaves a
half-written file under its final name (on Cloud Storage the rename is a server-side copy).
Local paths go through the standard library, so the stages that need no TensorFlow (synth,
check) do not start it just to touch a file.
"""

from __future__ import annotations

import contextlib
import functools
import glob as _glob
import io
import os
from pathlib import PurePath


class _Local:
    """The `tf.io.gfile` calls this module makes, for local paths."""

    exists = staticmethod(os.path.exists)
    glob = staticmethod(_glob.glob)
    GFile = staticmethod(open)
    remove = staticmethod(os.remove)

    @staticmethod
    def makedirs(path: str) -> None:
        os.makedirs(path, exist_ok=True)

    @staticmethod
    def rename(source: str, target: str, overwrite: bool = True) -> None:
        os.replace(source, target)


def _filesystem(path: str | PurePath):
    if not is_remote(path):
        return _Local
    import tensorflow as tf  # only for a remote path

    return tf.io.gfile


def is_remote(path: str | PurePath) -> bool:
    return "://" in str(path)


def join(base: str | PurePath, *parts: str) -> str:
    if is_remote(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return os.path.join(base, *parts)


def parent(path: str | PurePath) -> str:
    if is_remote(path):
        return str(path).rstrip("/").rsplit("/", 1)[0]
    return os.path.dirname(path) or "."


def name(path: str | PurePath) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def exists(path: str | PurePath) -> bool:
    return _filesystem(path).exists(str(path))


def makedirs(path: str | PurePath) -> None:
    _filesystem(path).makedirs(str(path))


def glob(pattern: str) -> list[str]:
    """Paths matching `pattern`, whose wildcards are in its last part (a folder named like
    `test[0]` is taken literally)."""
    if not is_remote(pattern):
        folder, last = os.path.split(pattern)
        pattern = os.path.join(_glob.escape(folder), last)
    return sorted(_filesystem(pattern).glob(pattern))


def size(path: str | PurePath) -> int:
    if not is_remote(path):
        return os.path.getsize(path)
    return _filesystem(path).stat(str(path)).length


def open_file(path: str | PurePath, mode: str = "rb"):
    """A file object for streaming (TensorFlow's GFile for a remote path); prefer the whole-file
    calls below."""
    return _filesystem(path).GFile(str(path), mode)


def read_bytes(path: str | PurePath) -> bytes:
    with open_file(path, "rb") as handle:
        return handle.read()


def read_text(path: str | PurePath) -> str:
    return read_bytes(path).decode("utf-8")


def remove(path: str | PurePath) -> None:
    _filesystem(path).remove(str(path))


def rename(source: str, target: str) -> None:
    _filesystem(source).rename(source, target, overwrite=True)


def write_bytes(path: str | PurePath, data: bytes) -> None:
    """Write all of `data`, atomically: a temporary file, renamed when complete."""
    temporary = f"{path}.tmp"
    with open_file(temporary, "wb") as handle:
        handle.write(data)
    rename(temporary, str(path))


def write_text(path: str | PurePath, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def readable(path: str | PurePath):
    """What pandas should be given to read a whole file at `path`: a local path itself, a
    remote file's bytes in memory (one download)."""
    return io.BytesIO(read_bytes(path)) if is_remote(path) else str(path)


@contextlib.contextmanager
def random_access(path: str | PurePath):
    """A file pyarrow (or pandas) reads only the byte ranges it needs from: a local path, a
    `gs://` object through pyarrow's own Cloud Storage client, so a parquet file's unused
    columns never cross the network. Another scheme, or a bucket pyarrow cannot reach (it
    finds credentials as TensorFlow does, but may disagree), comes down whole through
    TensorFlow, said once."""
    if not str(path).startswith("gs://"):
        yield readable(path)
        return
    # The endpoint Google's own clients take from STORAGE_EMULATOR_HOST (the tests' emulator).
    gcs = _arrow_gcs(os.environ.get("STORAGE_EMULATOR_HOST"))
    try:
        handle = gcs.open_input_file(str(path).removeprefix("gs://"))
    except FileNotFoundError:
        raise
    except OSError as error:
        _say_once(f"pyarrow cannot read gs:// ({type(error).__name__}: {error}); bucket files "
                  "come down whole through TensorFlow instead")
        yield readable(path)
        return
    with handle:
        yield handle


@functools.cache
def _arrow_gcs(emulator: str | None):
    from pyarrow import fs

    if not emulator:
        return fs.GcsFileSystem()
    scheme, _, endpoint = emulator.rpartition("://")
    return fs.GcsFileSystem(anonymous=True, scheme=scheme or "http", endpoint_override=endpoint)


@functools.cache
def _say_once(message: str) -> None:
    print(message)
