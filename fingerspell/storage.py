"""Where files live. A local path and a `gs://` URL (or any scheme `tf.io.gfile` knows: ram://,
s3://…) take the same calls, so every folder a user names (data, records, runs, submissions,
reports) may be a bucket. Paths are plain strings; `join` builds them, never `pathlib`, which
would turn `gs://b/run` into a local folder `gs:/b/run`.

Writes go to a temporary name and are renamed when complete, so a killed process never leaves a
half-written file under its final name (on Cloud Storage the rename is a server-side copy).
"""

from __future__ import annotations

import io
import os
from pathlib import PurePath


def _gfile():
    import tensorflow as tf  # imported on first use: the light stages start without it

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
    return _gfile().exists(str(path))


def makedirs(path: str | PurePath) -> None:
    _gfile().makedirs(str(path))


def glob(pattern: str) -> list[str]:
    return sorted(_gfile().glob(pattern))


def size(path: str | PurePath) -> int:
    return _gfile().stat(str(path)).length


def open_file(path: str | PurePath, mode: str = "rb"):
    """A file object for streaming (TensorFlow's GFile); prefer the whole-file calls below."""
    return _gfile().GFile(str(path), mode)


def read_bytes(path: str | PurePath) -> bytes:
    with open_file(path, "rb") as handle:
        return handle.read()


def read_text(path: str | PurePath) -> str:
    return read_bytes(path).decode("utf-8")


def rename(source: str, target: str) -> None:
    _gfile().rename(source, target, overwrite=True)


def write_bytes(path: str | PurePath, data: bytes) -> None:
    """Write all of `data`, atomically: a temporary file, renamed when complete."""
    temporary = f"{path}.tmp"
    with open_file(temporary, "wb") as handle:
        handle.write(data)
    rename(temporary, str(path))


def write_text(path: str | PurePath, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def readable(path: str | PurePath):
    """What pandas and pyarrow should be given to read `path`: a local path itself (they then
    read only the columns asked for), a remote file's bytes in memory (one download)."""
    return io.BytesIO(read_bytes(path)) if is_remote(path) else str(path)
