"""Records, runs, submissions and reports in a Cloud Storage bucket (gs://), against a local
emulator (the `bucket` fixture): the same files as on local disk, resumable, and nothing
written to a local `gs:` folder by mistake."""

import http.client
import http.server
import json
import os
import ssl
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import trustme

from fingerspell import align, check, environment, reader, records, runs, schema, storage, train
from fingerspell.features import model_landmarks
from fingerspell.synthetic import report as synth_report
from tests.conftest import demo_config, emulator
from tests.test_train import StopAfterFirstEpoch


def upload(folder: Path, url: str) -> str:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        target = f"{url}/{path.relative_to(folder).as_posix()}"
        tf.io.gfile.makedirs(storage.parent(target))
        tf.io.gfile.copy(str(path), target, overwrite=True)
    return url


@pytest.mark.slow
def test_preprocess_into_a_bucket_resumes_to_the_same_files(synth_dir, bucket, tmp_path,
                                                           monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    options = {"folds": 3, "supplemental": True, "chunk": 32}
    local = tmp_path / "local"
    records.preprocess(synth_dir, str(local), **options)
    remote = f"{bucket}/records"
    records.preprocess(synth_dir, remote, workers=2, **options)  # spawned workers reach it too
    # A kill: one file's manifest and a chunk gone, a half-written temporary left over.
    storage.rename(storage.glob(f"{remote}/_manifests/train-*.json")[0], f"{remote}/gone.json")
    victim = storage.glob(f"{remote}/fold0-*.tfrecord")[0]
    storage.rename(victim, f"{victim}.tmp")
    records.preprocess(synth_dir, remote, workers=2, **options)
    chunks = sorted(p.name for p in local.glob("*.tfrecord"))
    assert [storage.name(p) for p in storage.glob(f"{remote}/*.tfrecord")] == chunks
    for name in [*chunks, "folds.csv", "rejects.csv"]:
        assert storage.read_bytes(f"{remote}/{name}") == (local / name).read_bytes(), name
    written, read_back = records.load_metadata(str(local)), records.load_metadata(remote)
    for meta in (written, read_back):
        meta.pop("last_run")
    assert read_back == written
    assert not (tmp_path / "gs:").exists()


def test_a_bucket_parquet_file_sends_only_the_columns_read(synth_dir, bucket):
    """The model's 381 of 1,629 columns cross the network, not the whole file (counted by the
    emulator), and they read as from local disk."""
    name = reader.read_metadata(synth_dir).path[0]
    remote = upload(synth_dir, f"{bucket}/data")
    columns = schema.columns_for(model_landmarks("model"))
    before = emulator.bytes_served()
    from_bucket = reader.read_landmark_file(storage.join(remote, name), columns)
    served = emulator.bytes_served() - before
    whole = (synth_dir / name).stat().st_size
    assert served < 0.4 * whole, (served, whole)
    from_disk = reader.read_landmark_file(synth_dir / name, columns)
    assert from_bucket.keys() == from_disk.keys()
    for sequence_id, frames in from_disk.items():
        np.testing.assert_array_equal(from_bucket[sequence_id], frames)


def test_the_emulators_proxy_passes_other_hosts_through(gcs_emulator):
    """Every process started under the emulator has its proxy; a CONNECT to a host that is not
    Google's reaches that host untouched (pip installing MediaPipe's environment for a test that
    holds a bucket failed on a fresh machine while the proxy answered it with its own TLS)."""
    authority = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(tls)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ssl.create_default_context()
    authority.configure_trust(client)
    proxy = urllib.parse.urlsplit(os.environ["https_proxy"])
    connection = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=client, timeout=30)
    connection.set_tunnel("localhost", server.server_address[1])
    try:
        connection.request("GET", "/")
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, _Hello.body)
    finally:
        connection.close()
        server.shutdown()


class _Hello(http.server.BaseHTTPRequestHandler):
    body = b"not the emulator"

    def do_GET(self):  # noqa: N802  (the name http.server calls)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_the_synthetic_default_is_written_into_a_bucket_once(bucket, silfa_dir, tmp_path,
                                                             monkeypatch):  # fmt: skip
    """Notebook 1's DATA = "synthetic" (and "auto" without Kaggle's data) with SHARED a bucket,
    then `synth-report` on it, its picture into the bucket too."""
    monkeypatch.chdir(tmp_path)
    target = f"{bucket}/data/synthetic"
    assert environment.resolve_data("synthetic", target, sequences=12) == target
    table = reader.read_metadata(target)
    assert len(table) == 12 and storage.exists(storage.join(target, table.path[0]))
    assert len(synth_report.compare(target, silfa_dir))
    picture = synth_report.plot_side_by_side(target, silfa_dir, f"{bucket}/synth.png")
    assert storage.read_bytes(picture)[:4] == b"\x89PNG"
    marked = storage.join(target, table.path[0])
    storage.write_bytes(marked, b"kept")  # a file it rewrote would lose the mark
    assert environment.resolve_data("auto", target, sequences=12) == target
    assert storage.read_bytes(marked) == b"kept"
    assert not (tmp_path / "gs:").exists()


@pytest.mark.slow
def test_a_run_in_a_bucket_resumes_to_the_unbroken_runs_weights(demo_dir, bucket, tmp_path,
                                                                monkeypatch):  # fmt: skip
    """Records read from the bucket, the run written there: 1 epoch, a stop, then --resume. The
    resumed run ends where the demo's unbroken run did, and its best checkpoint is replaced only
    by an epoch better than those before the break; `align` writes its spans beside the records;
    `check` reads the data from the bucket and writes its report there. (Export into a bucket:
    test_notebooks.)"""
    monkeypatch.chdir(tmp_path)
    records_dir = upload(demo_dir / "records", f"{bucket}/records")
    run = f"{bucket}/run"
    config = demo_config()
    train.train(records_dir, run, config, verbose=0, callbacks=[StopAfterFirstEpoch()])
    history = runs.load_history(run)
    assert len(history) == 1
    # Epoch 1 scored as no later epoch can: the resumed epoch must leave its checkpoint alone.
    storage.write_text(f"{run}/{runs.HISTORY}", history.assign(val_score=1.0).to_csv(index=False))
    best = storage.read_bytes(f"{run}/{runs.BEST}")
    train.train(records_dir, run, config, resume=True, verbose=0)
    assert runs.load_history(run).epoch.tolist() == [0, 1]
    assert storage.read_bytes(f"{run}/{runs.BEST}") == best
    unbroken, _ = runs.load_trained(str(demo_dir / "run"), runs.LAST)
    resumed, _ = runs.load_trained(run, runs.LAST)
    for a, b in zip(unbroken.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert storage.glob(f"{run}/logs/train/*tfevents*")  # TensorBoard wrote into the bucket
    done = align.align(run, records_dir)
    assert done["aligned"] and storage.glob(f"{records_dir}/{records.ALIGNMENTS}/*.parquet")

    # `check` of the demo's submission on the data and records in the bucket, its report there.
    data = upload(demo_dir / "data", f"{bucket}/data")
    report = check.check(str(demo_dir / "submission.zip"), data, f"{bucket}/check", records_dir,
                         fold=0)  # fmt: skip
    assert json.loads(storage.read_text(f"{bucket}/check/report.json")) == report
    checked = check.load_predictions(f"{bucket}/check")
    local = pd.read_csv(demo_dir / "predictions.csv", keep_default_na=False)
    assert checked.sequence_id.tolist() == local.sequence_id.tolist()
    assert checked.prediction.tolist() == local.prediction.tolist()
    local_report = json.loads((demo_dir / "report.json").read_text())  # the demo's, from disk
    assert report["score"] == local_report["score"] and report["sequences"] == len(local)
    assert not (tmp_path / "gs:").exists()
