"""A submission's `model.tflite` run as the competition's evaluator runs it, on LiteRT with one
thread (no TensorFlow, no Keras): `check`, `transcribe` and the tests read it through here.

The evaluator reads `inference_args.json`, feeds each sequence's rows of those columns as
float32 to the `serving_default` signature runner, takes the argmax of every output row and
maps it through the reversed character map — no CTC collapsing of its own.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from fingerspell import schema, storage

SIGNATURE = "serving_default"


def load_submission(submission: str) -> tuple[list[str], bytes]:
    """(selected columns, the model's bytes) from a folder or a submission.zip."""
    if str(submission).endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(storage.read_bytes(submission))) as archive:
            model = archive.read("model.tflite")
            args = json.loads(archive.read("inference_args.json"))
    else:
        model = storage.read_bytes(storage.join(submission, "model.tflite"))
        args = json.loads(storage.read_text(storage.join(submission, "inference_args.json")))
    return args["selected_columns"], model


def load_runner(submission: str):
    """(signature runner, selected columns, the model's bytes) from a folder or a
    submission.zip."""
    columns, model = load_submission(submission)
    interpreter = Interpreter(model_content=model, num_threads=1)
    return interpreter.get_signature_runner(SIGNATURE), columns, model


def predict(runner, frames: np.ndarray) -> str:
    """The evaluator's decoding: argmax per output row, through the reversed character map."""
    output = runner(inputs=frames.astype(np.float32))["outputs"]
    lookup = schema.index_to_char()
    return "".join(lookup[int(i)] for i in np.argmax(output, axis=1))


def answer_to_nothing(runner, n_columns: int) -> str:
    """What a submission answers when it can read nothing (ten frames, all NaN): its run's
    fallback phrase."""
    return predict(runner, np.full((10, n_columns), np.nan, np.float32))


def emitted(classes) -> np.ndarray:
    """CTC's rule, frame by frame: whether each frame's class (0..58 a character,
    `schema.BLANK` blank) is read — a character that differs from the frame before it; blanks
    and repeats read nothing. The exported graph, validation and Keras decode by the same rule
    in `keras.ops` (`model.greedy_decode`); this is it for classes already read out."""
    classes = np.asarray(classes).reshape(-1)
    previous = np.concatenate([[-1], classes[:-1]])
    return (classes != previous) & (classes != schema.BLANK)


def collapse(classes) -> str:
    """The text per-frame classes read: the characters of the frames `emitted` keeps."""
    classes = np.asarray(classes).reshape(-1)
    lookup = schema.index_to_char()
    return "".join(lookup.get(int(c), "") for c in classes[emitted(classes)])


class Inspector:
    """The file on a second interpreter that keeps every intermediate tensor, so what the graph
    computed inside can be read after a run: each model frame's best class (the greedy decoder's
    per-frame argmax) and the per-frame logits."""

    def __init__(self, model: bytes):
        with warnings.catch_warnings():  # "for debugging only": reading them is the point here
            warnings.simplefilter("ignore", UserWarning)
            self.interpreter = Interpreter(model_content=model, num_threads=1,
                                           experimental_preserve_all_tensors=True)  # fmt: skip
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.classes_tensor = self._tensor(_is_frame_classes, "per-frame argmax")
        self.logits_tensor = self._tensor(_is_logits, "per-frame logits")

    def _tensor(self, wanted, what: str) -> int:
        """The last tensor `wanted` picks: a layer's output follows its inner tensors."""
        found = [t["index"] for t in self.interpreter.get_tensor_details() if wanted(t)]
        if not found:
            raise ValueError(f"the model has no {what} tensor: not a graph exported by "
                             "fingerspell")  # fmt: skip
        return max(found)

    def run(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The evaluator's output, each model frame's best class [T] and the logits [T, 60]."""
        outputs = self.runner(inputs=frames.astype(np.float32))
        return {"outputs": outputs["outputs"],
                "classes": self.interpreter.get_tensor(self.classes_tensor).reshape(-1),
                "logits": self.interpreter.get_tensor(self.logits_tensor)[0]}  # fmt: skip


# LiteRT's public tensor details name each tensor after the TensorFlow op that made it; the
# tests pin that these two are what their names say (the logits equal Keras', frame by frame;
# the classes collapse to the file's answer).


def load_inspector(submission: str) -> tuple[Inspector, list[int]]:
    """The submission's model on an `Inspector`, and where its selected columns sit among the
    competition's (`schema.COORDINATE_COLUMNS`): what `transcribe` and the live loop read."""
    columns, model = load_submission(submission)
    return Inspector(model), [schema.COORDINATE_COLUMNS.index(c) for c in columns]


def _is_frame_classes(tensor: dict) -> bool:
    # The greedy decoder's argmax over the classes (`model.greedy_decode`): integer [1, T].
    return tensor["name"].endswith("ArgMax") and len(tensor["shape_signature"]) == 2


def _is_logits(tensor: dict) -> bool:
    # The model's output layer, `blank_on_padding`: float32 [1, T, 60].
    return ("blank_on_padding" in tensor["name"] and tensor["dtype"] == np.float32
            and list(tensor["shape_signature"][1:]) == [-1, schema.N_CHARS + 1])  # fmt: skip
