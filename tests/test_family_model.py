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
from rtnote.learn.features import pack
from rtnote.learn.training import (COMBINE, LOOKS, NET, class_shares, evaluate_pipelines, extract,
                                   fit_look, fit_net, with_net_weight)

TINY = dict(duration_s=0.8, hold_s=0.5, velocities=(100,), pitch_step=24)


def member_proba_of(member, y16, f0_hz):
    """A model member's class probabilities for 16 kHz audio, the slow way: a whole Pipeline
    from a packed row, or a network look from its own features (no memo, no fast path)."""
    if hasattr(member, "steps"):
        return member.predict_proba(pack(y16, f0_hz, member.steps[0][1].horizon_s)[None])[0]
    return member.predict_proba(member.features(y16, f0_hz)[None])[0]


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


def test_predictions_run_on_one_blas_thread():
    """The live worker must not wake BLAS threads that spin on the audio server's core; the
    process's own setting (training, say) is left as it was."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    clf = load_model()
    before = blas_threads()
    seen = []
    for name, (horizon_s, features, proba) in list(clf._steps.items()):
        clf._steps[name] = (horizon_s, features, lambda x, proba=proba: seen.append(blas_threads()) or proba(x))
    clf._memo.clear()
    clf.predict_proba(np.zeros(int(0.41 * SR), np.float32), SR, 220.0)
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert blas_threads() == before


def test_fast_path_matches_the_pipeline():
    from rtnote.learn.features import note_features

    clf = load_model()
    rng = np.random.default_rng(1)
    pipelines = {name: m for name, m in clf.pipelines.items() if hasattr(m, "steps")}
    assert set(pipelines) == set(LOOKS)
    for name, pipe in pipelines.items():
        horizon_s, _, proba = clf._steps[name]
        X = np.stack([note_features(rng.standard_normal(6400).astype(np.float32), 80.0 + 90 * i,
                                    horizon_s) for i in range(4)])
        assert np.allclose(proba(X), pipe[1:].predict_proba(X), atol=1e-5)
    # the engine's 0.4-s look reuses the 100-ms answer for the same note: same result as fresh
    y = (0.1 * rng.standard_normal(int(0.41 * 44100))).astype(np.float32)
    clf._memo.clear()
    fresh = clf.predict_proba(y, 44100, 330.0)
    clf._memo.clear()
    clf.predict_proba(y[:int(0.102 * 44100)], 44100, 330.0)
    assert np.allclose(clf.predict_proba(y, 44100, 330.0), fresh, atol=0.02)


@pytest.fixture(scope="module")
def tiny_net(tiny):
    ds = tiny[0]
    feats = extract(ds, seed=0, copies=1, jobs=1)
    return feats, fit_net(feats, seed=0)


def test_spectrogram_network_learns_its_notes_at_every_look(tiny_net):
    feats, net = tiny_net
    assert set(net) == {NET + look for look in LOOKS}
    result = evaluate_pipelines(net, feats, {look: [NET + look] for look in LOOKS})
    # ~70 steps on ~200 notes of 11 families: well above chance (9%), not yet a good model
    assert result["note"]["accuracy"] > 0.3, result["note"]["accuracy"]


def test_spectrogram_network_numpy_forward_is_the_jax_one(tiny_net):
    """Prediction runs the trained weights in NumPy: the same numbers as JAX's forward pass."""
    import jax
    import jax.numpy as jnp

    from rtnote.learn.jaxnet import _logits

    feats, net = tiny_net
    model = net[NET + "note"].net
    rows = feats[NET + "note"][:6]
    pitch, patches = model._split(rows)
    expected = jax.nn.softmax(_logits(jax, jnp, model.params_, jnp.asarray(patches), jnp.asarray(pitch)))
    assert np.allclose(model.predict_proba(rows), np.asarray(expected), atol=1e-5)


def test_spectrogram_network_same_seed_same_weights(tiny_net):
    feats, net = tiny_net
    again = fit_net(feats, seed=0)[NET + "note"].net.params_
    first = net[NET + "note"].net.params_
    import jax

    for a, b in zip(jax.tree_util.tree_leaves(first), jax.tree_util.tree_leaves(again)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("net_weight", [1.0, 3.0])
def test_a_model_with_the_network_round_trips(tiny, tiny_net, tmp_path, net_weight):
    """Saved, vouched, loaded, and every look combines the members ``combine`` names: their
    geometric mean, the network's votes weighted ``net_weight``, over the training share of
    each class, normalized."""
    from sklearn.linear_model import LogisticRegression

    ds = tiny[0]
    feats, net = tiny_net
    pipelines = {look: fit_look(look, LogisticRegression(max_iter=300), feats) for look in LOOKS} | net
    prior = class_shares(feats["family"])
    path = str(tmp_path / "with-net.joblib")
    save_model(path, pipelines, LOOKS, {"seed": 0}, with_net_weight(COMBINE, net_weight), prior)
    clf = load_model(path)
    assert {NET + look for look in LOOKS} <= set(clf.pipelines)

    shares = np.array([prior[c] for c in clf.classes_])
    i = len(ds) // 2
    y, f0 = ds.audio(i), 440 * 2 ** ((ds.notes[i]["pitch"] - 69) / 12)
    for heard_s, look in ((0.05, "onset"), (0.1, "decision"), (0.4, "note")):
        heard = y[:int(heard_s * SR)]
        members = np.array([member_proba_of(pipelines[m], heard, f0) for m in COMBINE[look]])
        weights = np.array([net_weight if m.startswith(NET) else 1.0 for m in COMBINE[look]])
        expected = np.prod(members ** weights[:, None], axis=0) ** (1 / weights.sum()) / shares
        expected /= expected.sum()
        clf._memo.clear()
        # the fast path's rounding (~1e-5) grows with the weight
        assert np.allclose(clf.predict_proba(heard, SR, f0), expected, atol=1e-5 * net_weight), look
