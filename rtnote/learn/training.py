"""Training the family classifier: features in parallel, candidate models, the chosen one.

The flow (``rtnote train``): open the training sources and the validation source, compute
features for every look (with augmented copies of the training notes), fit each candidate
``Pipeline(NoteFeatures, StandardScaler, model)`` per look, pick the candidate with the best
validation accuracy (never a random split), fit the spectrogram network beside it (one
network for every look, ``net@<look>`` members), and save both with the manifest.
"""

import hashlib
import json
import os

import numpy as np

from rtnote.families import FAMILIES
from rtnote.learn import SR
from rtnote.learn.augment import augment, jitter_onset
from rtnote.learn.features import NoteFeatures, note_features
from rtnote.learn.spectrogram import SpectrogramLook, SpectrogramNet, net_row

#: The looks the engine takes [seconds after the onset]: at the note_on (a variable few
#: tens of ms; trained on 5-70 ms), the ~100 ms decision, and two later looks while the note
#: sounds (the last one, 1 s, on the whole note as far as the engine waits for it).
LOOKS = {"onset": 0.07, "decision": 0.1, "note": 0.4, "held": 1.0}
#: Members whose class probabilities are combined at each look (rtnote.classifier.vote; each
#: on its own horizon of the same audio): the feature model and the spectrogram network
#: (``net@<look>``). The network alone is weaker (~57% on TimGM6mb at 100 ms) but errs
#: elsewhere: see the model card. The later looks add the feature model only: the earlier
#: members are remembered from the earlier looks, so each costs one feature model (the
#: network's 0.4-s look, 1 ms more, scored 0.6 points more on TimGM6mb but cost deadline
#: misses live).
NET = "net@"
COMBINE = {"onset": ["onset", NET + "onset"], "decision": ["decision", NET + "decision"],
           "note": ["note", "decision", NET + "decision"],
           "held": ["held", "note", "decision", NET + "decision"]}
#: Weights of the network's votes tried (the feature models' weigh 1); ``train`` keeps the
#: one with the best validation score (:func:`score_of`): 4 on TimGM6mb (model card).
NET_WEIGHTS = (1.0, 2.0, 3.0, 4.0, 6.0)
ONSET_HEARD_S = (0.005, 0.07)
SEGMENT_S = max(LOOKS.values()) + 0.05  # audio kept per note [seconds]: the longest look, jittered
FEATURE_VERSION = 5


def midi_to_hz(pitch):
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69) / 12.0)


def _note_rows(y, f0_hz, rng, augmented):
    """Features of one note for every look and the network's rows for every look (a list
    ordered like :func:`member_names`)."""
    if augmented:
        y, f0_hz = augment(y, f0_hz, rng)
    y = jitter_onset(y, rng)
    heard = int(rng.uniform(*ONSET_HEARD_S) * SR)
    segments = {look: y[:heard] if look == "onset" else y for look in LOOKS}
    return ([note_features(segments[look], f0_hz, horizon_s) for look, horizon_s in LOOKS.items()]
            + [net_row(segments[look], f0_hz, horizon_s) for look, horizon_s in LOOKS.items()])


def member_names():
    """Names of the feature rows :func:`extract` computes: each look, then ``net@<look>``."""
    return list(LOOKS) + [NET + look for look in LOOKS]


def _chunk_features(clips, pitches, keys, seed, copies):
    """Worker: features of a chunk of notes, ``copies`` variants each (the first plain)."""
    rows = [[] for _ in member_names()]
    for y, pitch, key in zip(clips, pitches, keys):
        y = y.astype(np.float32) / 32768.0 if y.dtype == np.int16 else y
        for copy in range(copies):
            rng = np.random.default_rng([seed, *key, copy])
            for look, row in enumerate(_note_rows(y, float(midi_to_hz(pitch)), rng, copy > 0)):
                rows[look].append(row)
    return [np.stack(r) for r in rows]


def dataset_key(dataset):
    """A stable number for a data set's name, so each note's random draws are its own."""
    return int(hashlib.sha256(dataset.name.encode()).hexdigest()[:8], 16)


def note_segments(dataset, indices, length_s=SEGMENT_S):
    """int16 array [n, length] of the notes' first ``length_s`` seconds."""
    n = int(length_s * SR)
    out = np.zeros((len(indices), n), dtype=np.int16)
    for j, i in enumerate(indices):
        y = dataset.audio(i)[:n]
        out[j, :len(y)] = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
    return out


def extract(dataset, seed=0, copies=1, jobs=1, progress=None, cache_dir=None, chunk=256):
    """Features of every note of ``dataset`` for every look.

    Parameters
    ----------
    dataset : rtnote.learn.datasets.NoteDataset
    seed : int
        Fixes the augmentation and onset jitter of each note.
    copies : int > 0
        Variants per note: the plain note plus ``copies - 1`` augmented ones.
    jobs : int > 0
        Worker processes (joblib).
    progress : callable(done, total, text) or None
    cache_dir : str or None
        Where to keep the result (keyed by data set, seed, copies and feature version).

    Returns
    -------
    dict
        ``look -> X [n_notes * copies, n_features]`` for every name of
        :func:`member_names`, plus ``family``, ``pitch``,
        ``instrument``, ``note_index`` (index of the note of each row).
    """
    from joblib import Parallel, delayed

    path = None
    if cache_dir is not None and getattr(dataset, "folder", None):
        tag = hashlib.sha256(json.dumps([dataset.folder, len(dataset), seed, copies, FEATURE_VERSION,
                                         LOOKS, ONSET_HEARD_S]).encode()).hexdigest()[:12]
        path = os.path.join(cache_dir, "features", f"{dataset.name}-{tag}.npz")
        if os.path.exists(path):
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
    n = len(dataset)
    starts = list(range(0, n, chunk))
    key = dataset_key(dataset)
    pitches = dataset.column("pitch")

    def tasks():
        for s in starts:
            idx = list(range(s, min(n, s + chunk)))
            yield delayed(_chunk_features)(note_segments(dataset, idx), pitches[idx],
                                           [(key, i) for i in idx], seed, copies)

    parts = []
    if progress:
        progress(0, n, f"features {dataset.name}")
    for s, part in zip(starts, Parallel(n_jobs=jobs, return_as="generator")(tasks())):
        parts.append(part)
        if progress:
            progress(min(n, s + chunk), n, f"features {dataset.name}")
    out = {name: np.concatenate([p[j] for p in parts]) for j, name in enumerate(member_names())}
    out["note_index"] = np.repeat(np.arange(n), copies)
    for col in ("family", "pitch", "instrument"):
        out[col] = dataset.column(col)[out["note_index"]]
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".part", "wb") as f:
            np.savez(f, **out)
        os.replace(path + ".part", path)
    return out


def merge(feature_sets):
    """Concatenate several :func:`extract` results (row-wise)."""
    return {k: np.concatenate([f[k] for f in feature_sets]) for k in feature_sets[0]}


#: Candidates fast enough for the live engine (<= 2 ms a note with features); the tree
#: ensembles predict one row through a Python loop over their trees (~20 ms a note here).
LIVE_CANDIDATES = ("mlp", "logreg")


def candidates(seed):
    """The model families compared on the validation source: name -> unfitted estimator."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    return {
        "logreg": LogisticRegression(C=0.5, max_iter=3000),
        "mlp": MLPClassifier(hidden_layer_sizes=(256, 128), alpha=1e-2, batch_size=256,
                             learning_rate_init=1e-3, max_iter=60, early_stopping=False,
                             random_state=seed),
        "hgb": HistGradientBoostingClassifier(max_iter=250, learning_rate=0.1, max_leaf_nodes=31,
                                              l2_regularization=1.0, early_stopping=False,
                                              random_state=seed),
        "rf": RandomForestClassifier(n_estimators=200, min_samples_leaf=2, max_features="sqrt",
                                     n_jobs=1, random_state=seed),
    }


def make_pipeline(look, model):
    """``Pipeline(NoteFeatures(horizon of the look), StandardScaler, model)``."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("features", NoteFeatures(horizon_s=LOOKS[look])),
                     ("scale", StandardScaler()), ("model", model)])


def fit_net(features, seed, progress=None):
    """The spectrogram network, fitted on the whole-note rows; returns its ``net@<look>``
    members (one network, every look)."""
    net = SpectrogramNet(random_state=seed)
    net.fit(features[NET + "note"], features["family"],
            progress=progress and (lambda epoch, epochs: progress(epoch, epochs, "fitting the spectrogram network")))
    return {NET + look: SpectrogramLook(net, horizon_s) for look, horizon_s in LOOKS.items()}


def without_net(combine):
    """``combine`` with the network's members left out (how the feature models alone vote)."""
    return {look: [m for m in members if not m.startswith(NET)] for look, members in combine.items()}


def with_net_weight(combine, weight):
    """``combine`` as {look: {member: weight}}: the network's members weigh ``weight``, the
    others 1."""
    return {look: {m: float(weight) if m.startswith(NET) else 1.0 for m in members}
            for look, members in combine.items()}


def member_proba(member, X):
    """Class probabilities of a fitted member (a Pipeline, on precomputed features, or a
    SpectrogramLook) for rows ``X`` of :func:`extract`."""
    return member[1:].predict_proba(X) if hasattr(member, "steps") else member.predict_proba(X)


def fit_look(look, model, features):
    """Fit one look's pipeline on precomputed features (the feature step is stateless)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    pipe = make_pipeline(look, model)
    pipe.steps[0][1].fit(np.zeros((1, 2 + int(LOOKS[look] * SR))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget, by design
        pipe[1:].fit(features[look], features["family"])
    return pipe


def accuracy_by_family(truth, pred):
    """Overall accuracy and {family: accuracy} [fractions]."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    per = {f: float(np.mean(pred[truth == f] == f)) for f in FAMILIES if np.any(truth == f)}
    return float(np.mean(truth == pred)), per


def open_sources(data, cache_dir=None, jobs=1, progress=None):
    """(training data sets, validation data set) for ``--data``.

    ``soundfonts``: train on FluidR3_GM and MuseScore_General, validate on TimGM6mb (never
    trained on). ``nsynth:DIR``: train on NSynth's train split, validate on its valid split.
    """
    from rtnote.errors import ConfigError
    from rtnote.learn.datasets import NSynthDataset, RenderedDataset
    from rtnote.synth import TRAIN_SOUNDFONTS, VALIDATION_SOUNDFONT

    if data == "soundfonts":
        train = [RenderedDataset(s, cache_dir, jobs=jobs, progress=progress) for s in TRAIN_SOUNDFONTS]
        return train, RenderedDataset(VALIDATION_SOUNDFONT, cache_dir, jobs=jobs, progress=progress)
    if data.startswith("nsynth:"):
        root = os.path.expanduser(data[len("nsynth:"):])
        return [NSynthDataset(root, "train")], NSynthDataset(root, "valid")
    raise ConfigError(f"--data must be 'soundfonts' or 'nsynth:DIR', not {data!r}")


def features_of(datasets, seed, copies, jobs, progress, cache_dir):
    return merge([extract(d, seed=seed, copies=copies, jobs=jobs, progress=progress,
                          cache_dir=cache_dir) for d in datasets])


def class_shares(families):
    """{family: share of the notes} [fractions] of a training set's labels."""
    names, counts = np.unique(np.asarray(families), return_counts=True)
    return {str(f): float(c / counts.sum()) for f, c in zip(names, counts)}


def evaluate_pipelines(pipelines, features, combine=None, class_prior=None):
    """{look: {"accuracy", "per_family", "predicted"}} of fitted pipelines on features, each
    look's members ``combine[look]`` (default: the look alone) combined as the engine does
    (:func:`rtnote.classifier.vote`, with ``class_prior`` from :func:`class_shares`)."""
    from rtnote.classifier import member_weights, prior_array, vote

    out = {}
    for look in LOOKS:
        weights = member_weights((combine or {}).get(look, [look]))
        classes = pipelines[next(iter(weights))].classes_
        proba = vote([member_proba(pipelines[m], features[m]) for m in weights],
                     prior_array(class_prior, classes), list(weights.values()))
        pred = classes[np.argmax(proba, axis=1)]
        acc, per = accuracy_by_family(features["family"], pred)
        out[look] = {"accuracy": acc, "per_family": per, "predicted": pred}
    return out


def accuracies(result):
    """{look: accuracy rounded to 4 places} of an :func:`evaluate_pipelines` result."""
    return {look: round(r["accuracy"], 4) for look, r in result.items()}


def score_of(result):
    """The validation score models are chosen by: mean accuracy at the decision and note looks."""
    return 0.5 * (result["decision"]["accuracy"] + result["note"]["accuracy"])


def train(data="soundfonts", seed=0, model="mlp", copies=1, jobs=1, cache_dir=None, progress=None):
    """Train the family classifier end to end (see module docstring).

    Parameters
    ----------
    data : str
        ``'soundfonts'`` or ``'nsynth:DIR'``.
    seed : int
        Fixes augmentation, onset jitter and model initialization.
    model : str
        A name from :func:`candidates`, or ``'auto'``: fit every candidate and keep the one
        with the best validation score (:func:`score_of`) among LIVE_CANDIDATES.
    copies : int > 0
        Variants per training note (the plain note + ``copies - 1`` augmented).
    jobs : int > 0
    cache_dir : str or None
    progress : callable(done, total, text) or None

    Returns
    -------
    pipelines : dict member name -> Pipeline (per look) or SpectrogramLook (net@<look>)
    report : dict (JSON-ready) for the manifest; its ``class_prior`` (the training share of
        each family) also goes into the model file (see rtnote.classifier.vote)
    """
    from rtnote.learn.datasets import default_cache_dir

    cache_dir = cache_dir or default_cache_dir()
    train_sets, valid_set = open_sources(data, cache_dir, jobs, progress)
    train_f = features_of(train_sets, seed, copies, jobs, progress, cache_dir)
    valid_f = features_of([valid_set], seed, 1, jobs, progress, cache_dir)
    names = list(candidates(seed)) if model == "auto" else [model]
    if any(n not in candidates(seed) for n in names):
        from rtnote.errors import ConfigError

        raise ConfigError(f"model must be one of {', '.join(candidates(seed))} or auto, not {model!r}")
    prior = class_shares(train_f["family"])
    comparison, best = {}, None
    total = len(names) * len(LOOKS)
    for i, name in enumerate(names):
        pipelines = {}
        for j, look in enumerate(LOOKS):
            if progress:
                progress(i * len(LOOKS) + j, total, f"fitting {name}")
            pipelines[look] = fit_look(look, candidates(seed)[name], train_f)
        result = evaluate_pipelines(pipelines, valid_f, without_net(COMBINE), prior)
        comparison[name] = accuracies(result)
        live = name in LIVE_CANDIDATES or len(names) == 1
        if live and (best is None or score_of(result) > score_of(best[2])):
            best = (name, pipelines, result)
    if progress:
        progress(total, total, "fitting")
    name, pipelines, _ = best
    net = fit_net(train_f, seed, progress)
    alone = evaluate_pipelines(net, valid_f, {look: [NET + look] for look in LOOKS}, prior)
    comparison["spectrogram network"] = accuracies(alone)
    pipelines = pipelines | net
    combine, result = None, None
    for weight in NET_WEIGHTS:
        weighted = with_net_weight(COMBINE, weight)
        tried = evaluate_pipelines(pipelines, valid_f, weighted, prior)
        comparison[f"{name} + spectrogram network (votes weigh 1 : {weight:g})"] = accuracies(tried)
        if result is None or score_of(tried) > score_of(result):
            combine, result = weighted, tried
    report = {
        "created_by": "rtnote train",
        "seed": seed,
        "model": {"name": f"{name} + spectrogram network", "estimator": repr(pipelines["note"].steps[-1][1]),
                  "network": repr(net[NET + "note"].net)},
        "features": {"transformer": "rtnote.learn.features.NoteFeatures",
                     "params": pipelines["note"].steps[0][1].get_params(), "sr_hz": SR,
                     "looks_s": LOOKS, "combine": combine, "onset_heard_s": list(ONSET_HEARD_S),
                     "version": FEATURE_VERSION},
        "training": {"data": data, "sources": [d.describe() for d in train_sets],
                     "notes": int(sum(len(d) for d in train_sets)),
                     "rows": int(len(train_f["family"])), "copies_per_note": copies,
                     "augmentation": ("rtnote.learn.augment.augment (detune, vibrato, EQ, envelope, "
                                      "reverb, noise, level, f0 error) on copies 2.." if copies > 1
                                      else "none") + "; onset jitter -5..+10 ms on every row"},
        "class_prior": prior,
        "validation": valid_set.describe(),
        "comparison": comparison,
        "metrics": {"validation": {look: {"accuracy": round(r["accuracy"], 4),
                                          "per_family": {f: round(a, 4) for f, a in r["per_family"].items()}}
                                   for look, r in result.items()}},
    }
    for d in report["training"]["sources"] + [report["validation"]]:
        d.pop("cache", None)
        d.pop("folder", None)
    return pipelines, report
