"""Family models: a tiny training run, reproducible files, and every way a model file can be bad."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rtnote.classifier import FamilyClassifier, load_model, manifest_path, save_model
from rtnote.errors import ModelError
from rtnote.families import FAMILIES
from rtnote.learn import SR
from rtnote.learn.datasets import RenderedDataset, RenderSpec
from rtnote.learn.training import LOOKS, evaluate_pipelines, extract, fit_look

TINY = dict(duration_s=0.8, hold_s=0.5, velocities=(100,), pitch_step=24)


def tiny_train(dataset, seed, out):
    """A real (if tiny) training run: features of every look, one logistic model per look."""
    from sklearn.linear_model import LogisticRegression

    feats = extract(dataset, seed=seed, copies=2, jobs=1)
    pipelines = {look: fit_look(look, LogisticRegression(max_iter=300), feats) for look in LOOKS}
    metrics = {look: {"accuracy": r["accuracy"]} for look, r in evaluate_pipelines(pipelines, feats).items()}
    return save_model(out, pipelines, LOOKS, {"seed": seed, "metrics": {"training": metrics}})


@pytest.fixture(scope="module")
def tiny(renderer_factory, tmp_path_factory):
    renderer_factory("TimGM6mb")
    root = tmp_path_factory.mktemp("tiny")
    ds = RenderedDataset("TimGM6mb", cache_dir=str(root / "cache"), spec=RenderSpec(**TINY))
    path = str(root / "tiny.joblib")
    manifest = tiny_train(ds, 0, path)
    return ds, path, manifest


def copy_model(src, folder, name="m.joblib"):
    dst = os.path.join(folder, name)
    shutil.copy(src, dst)
    shutil.copy(manifest_path(src), manifest_path(dst))
    return dst


def test_tiny_model_round_trip(tiny):
    ds, path, manifest = tiny
    assert manifest["sha256"] and manifest["versions"]["scikit-learn"]
    assert json.load(open(manifest_path(path)))["sha256"] == manifest["sha256"]
    clf = load_model(path)
    assert isinstance(clf, FamilyClassifier) and set(clf.classes_) <= set(FAMILIES)
    for i in (0, len(ds) // 3, len(ds) - 1):
        pitch = ds.notes[i]["pitch"]
        y = ds.audio(i)
        for heard_s, sr in ((0.03, 44100), (0.1, 48000), (0.4, 22050)):
            from rtnote.learn.features import resample

            family, conf = clf.predict(resample(y[:int(heard_s * SR)], SR, sr), sr, 440 * 2 ** ((pitch - 69) / 12))
            assert family in FAMILIES and 0.0 <= conf <= 1.0
    # the tiny model learnt something from its own notes
    assert manifest["metrics"]["training"]["note"]["accuracy"] > 0.5


def test_same_seed_same_model_file(tiny, tmp_path):
    ds, path, manifest = tiny
    again = tiny_train(ds, 0, str(tmp_path / "again.joblib"))
    assert again["sha256"] == manifest["sha256"]


def test_odd_inputs_still_give_a_family(tiny):
    clf = load_model(tiny[1])
    for y, sr, f0 in ((np.zeros(0, np.float32), 44100, 440.0), (np.zeros(4410, np.float32), 44100, 440.0),
                      (np.ones(800, np.float32), 8000, 41.2), (np.random.default_rng(0).standard_normal(96000).astype(np.float32), 96000, 4186.0),
                      (np.zeros(1000, np.float32), 16000, float("nan"))):
        family, conf = clf.predict(y, sr, f0)
        assert family in FAMILIES and np.isfinite(conf)


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "edited", "empty"])
def test_damaged_model_is_refused_in_one_line(tiny, tmp_path, damage):
    path = copy_model(tiny[1], tmp_path)
    data = open(path, "rb").read()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "corrupt":
        data = data[:100] + bytes(200) + data[300:]
    elif damage == "edited":
        i = len(data) // 2
        data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
    else:
        data = b""
    open(path, "wb").write(data)
    with pytest.raises(ModelError, match="does not match its manifest") as err:
        load_model(path)
    assert "\n" not in str(err.value)
    # trusting it anyway still gives one line, not a traceback
    with pytest.raises(ModelError) as err:
        load_model(path, trust=True)
    assert "\n" not in str(err.value)


def test_unvouched_model_needs_trust(tiny, tmp_path):
    path = copy_model(tiny[1], tmp_path)
    os.remove(manifest_path(path))
    with pytest.raises(ModelError, match="no manifest vouches"):
        load_model(path)
    assert load_model(path, trust=True).predict(np.zeros(1600, np.float32), SR, 220.0)[0] in FAMILIES


def test_version_mismatch_and_bad_manifest(tiny, tmp_path):
    path = copy_model(tiny[1], tmp_path)
    manifest = json.load(open(manifest_path(path)))
    manifest["versions"]["scikit-learn"] = "0.20.0"
    json.dump(manifest, open(manifest_path(path), "w"))
    with pytest.raises(ModelError, match=r"made with scikit-learn 0\.20\.0"):
        load_model(path)
    load_model(path, trust=True)
    open(manifest_path(path), "w").write('{"sha256": ')
    with pytest.raises(ModelError, match="manifest .* is unreadable"):
        load_model(path)
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "absent.joblib"))


def test_not_a_family_model(tmp_path):
    import joblib

    from rtnote.classifier import sha256_of

    path = str(tmp_path / "other.joblib")
    joblib.dump({"something": "else"}, path)
    json.dump({"sha256": sha256_of(path), "versions": {}}, open(manifest_path(path), "w"))
    with pytest.raises(ModelError, match="not a usable family model"):
        load_model(path, trust=True)


def test_cli_bad_model_is_one_line_exit_1(tiny, tmp_path, melody_wav):
    path = copy_model(tiny[1], tmp_path)
    open(path, "ab").write(b"tampered")
    proc = subprocess.run([sys.executable, "-m", "rtnote", "transcribe", str(melody_wav[0]),
                           "-o", str(tmp_path / "x.mid"), "--model", path],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtnote: error:") and "manifest" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.mid").exists()


def test_shipped_model_is_vouched_and_small():
    """Hash and versions checked against models/family.json; prediction time is a benchmark
    figure (the model card), not a timed test."""
    clf = load_model()
    manifest = clf.manifest
    assert manifest["size_bytes"] <= 20e6
    assert set(manifest["metrics"]["validation"]) == set(LOOKS)
    rng = np.random.default_rng(0)
    for heard_s in (0.03, 0.1, 0.4):
        y = (0.1 * rng.standard_normal(int(heard_s * 44100))).astype(np.float32)
        family, conf = clf.predict(y, 44100, 220.0)
        assert family in FAMILIES and 0.0 <= conf <= 1.0


def test_fast_path_matches_the_pipeline():
    from rtnote.learn.features import note_features

    clf = load_model()
    rng = np.random.default_rng(1)
    for look, pipe in clf.pipelines.items():
        X = np.stack([note_features(rng.standard_normal(6400).astype(np.float32), 80.0 + 90 * i,
                                    clf.looks[look]) for i in range(4)])
        assert np.allclose(clf._steps[look][1](X), pipe[1:].predict_proba(X), atol=1e-5)
    # the engine's 0.4-s look reuses the 100-ms answer for the same note: same result as fresh
    y = (0.1 * rng.standard_normal(int(0.41 * 44100))).astype(np.float32)
    clf._memo.clear()
    fresh = clf.predict_proba(y, 44100, 330.0)
    clf._memo.clear()
    clf.predict_proba(y[:int(0.102 * 44100)], 44100, 330.0)
    assert np.allclose(clf.predict_proba(y, 44100, 330.0), fresh, atol=0.02)
