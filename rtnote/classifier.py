"""The instrument-family classifier the engine calls, and safe loading of model files.

A model file (``*.joblib``) holds its members: one fitted ``Pipeline(NoteFeatures,
StandardScaler, model)`` per look at a note (:data:`rtnote.learn.training.LOOKS`) and the
spectrogram network's looks (``net@<look>``); each look combines the members its
``combine`` list names (:func:`vote`). A manifest beside it (same stem,
``.json``) vouches for it: its sha256, the library versions it was made with, the feature
settings, the training data and the held-out metrics. :func:`load_model` refuses a file the
manifest does not vouch for (pickles run code) unless told to trust it.
"""

import hashlib
import json
import os
import platform
from functools import lru_cache
from importlib import metadata, resources

import numpy as np

from rtnote.errors import ModelError

#: The shipped model, inside the package ``rtnote.models`` (the repo's ``models/``).
DEFAULT_MODEL = "family.joblib"
FORMAT = 1
#: Libraries whose versions must match the manifest's exactly (a pickle is only safe to
#: load with the versions that wrote it).
PINNED = ("scikit-learn", "numpy", "joblib")
RECORDED = PINNED + ("scipy", "librosa")


def library_versions():
    """{library: version} for the libraries a model depends on, plus Python's."""
    out = {"python": platform.python_version()}
    for name in RECORDED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_path(model_path):
    """The manifest that vouches for ``model_path``: same folder and stem, ``.json``."""
    return os.path.splitext(os.fspath(model_path))[0] + ".json"


def default_model_path():
    return str(resources.files("rtnote.models").joinpath(DEFAULT_MODEL))


class _FastMLP:
    """``predict_proba`` of ``Pipeline(StandardScaler, MLPClassifier(relu))`` as plain NumPy:
    the same numbers without sklearn's per-call input checks (~30 us instead of ~300 us).
    Weights are held as float64 (the dtype of the computation), so no call converts them."""

    def __init__(self, scaler, mlp):
        self.mean = scaler.mean_ if scaler.with_mean else 0.0
        self.scale = scaler.scale_ if scaler.with_std else 1.0
        self.layers = [(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                       for w, b in zip(mlp.coefs_, mlp.intercepts_)]

    def __call__(self, x):
        a = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            a = a @ w + b
            if i < len(self.layers) - 1:
                np.maximum(a, 0.0, out=a)
        a = np.exp(a - a.max(axis=1, keepdims=True))
        return a / a.sum(axis=1, keepdims=True)


def _fast_proba(pipe):
    """A _FastMLP for ``Pipeline(StandardScaler, MLPClassifier)`` with relu/softmax, else None."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    if len(pipe) != 2 or not isinstance(pipe[0], StandardScaler) or not isinstance(pipe[1], MLPClassifier):
        return None
    if pipe[1].activation != "relu" or pipe[1].out_activation_ != "softmax":
        return None
    return _FastMLP(pipe[0], pipe[1])


def vote(probas, class_prior=None, weights=None):
    """Members' class probabilities combined: their weighted geometric mean over each class's
    share of the training notes, normalized (every family equally likely before the sound is
    heard; the training mix only says how many General MIDI programs a family has).

    Parameters
    ----------
    probas : sequence of np.ndarray [shape=(..., n_classes)]
        One per member.
    class_prior : np.ndarray [shape=(n_classes,)] or None
        Training share of each class; None: no correction.
    weights : sequence of float > 0 or None
        One per member (a member's vote counts that many times); None: equal.
    """
    weights = np.ones(len(probas)) if weights is None else np.asarray(weights, dtype=np.float64)
    log_p = sum(w * np.log(np.asarray(p, dtype=np.float64) + 1e-9) for w, p in zip(weights, probas))
    log_p = log_p / weights.sum()
    if class_prior is not None:
        log_p = log_p - np.log(class_prior)
    p = np.exp(log_p - log_p.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def member_weights(members):
    """{member: weight} of one look's ``combine`` entry: a dict as it is, a list of names
    with weight 1 each."""
    if isinstance(members, dict):
        return {str(m): float(w) for m, w in members.items()}
    return {str(m): 1.0 for m in members}


def prior_array(class_prior, classes):
    """``class_prior`` ({class: training share} or None) in the order of ``classes``."""
    if class_prior is None:
        return None
    return np.array([class_prior[str(c)] for c in classes], dtype=np.float64)


@lru_cache(maxsize=1)
def _blas():
    """threadpoolctl's handle on the BLAS libraries (scanned once). Predictions run on one
    BLAS thread: the network's matrix products are too small to gain from a second, and its
    spinning workers took the core the audio server needs (54 deadline misses in a live soak)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class FamilyClassifier:
    """``predict(y, sr, f0_hz) -> (family, confidence)`` for the engine's FamilyStage.

    Parameters
    ----------
    pipelines : dict
        member name -> a fitted Pipeline whose first step is a NoteFeatures, or a
        SpectrogramLook; either has ``horizon_s`` [seconds] and ``features(y16, f0_hz)``.
    looks : dict
        look name -> horizon [seconds]; a call uses the longest look the audio covers.
    combine : dict or None
        look name -> the members whose class probabilities are combined (:func:`vote`) when
        that look is used (each on its own horizon of the same audio): a list of names, or
        {name: weight}; default: the look's own member.
    class_prior : dict or None
        class -> its share of the training notes (see :func:`vote`); None: no correction.
    """

    def __init__(self, pipelines, looks, combine=None, class_prior=None):
        self.pipelines = pipelines
        self.looks = dict(sorted(looks.items(), key=lambda kv: kv[1]))
        self.combine = {look: member_weights((combine or {}).get(look, [look])) for look in self.looks}
        self._memo = {}
        self.classes_ = np.asarray(next(iter(pipelines.values())).classes_)
        self.class_prior = class_prior
        self._prior = prior_array(class_prior, self.classes_)
        self._steps = {}
        for name, member in pipelines.items():
            if list(member.classes_) != list(self.classes_):
                raise ModelError(f"member {name!r} has other classes than the rest")
            if hasattr(member, "steps"):  # Pipeline(NoteFeatures, scaler, model)
                features = member.steps[0][1]
                self._steps[name] = (features.horizon_s, features.features,
                                     _fast_proba(member[1:]) or member[1:].predict_proba)
            else:
                self._steps[name] = (member.horizon_s, member.features, member.predict_proba)

    @property
    def later_looks_s(self):
        """The looks [seconds after the onset] the engine asks at after the note_on's."""
        return tuple(self.looks.values())[1:]

    def look_for(self, heard_s):
        """The look used for ``heard_s`` seconds of audio: the longest one that (nearly) fits."""
        chosen = next(iter(self.looks))
        for look, horizon_s in self.looks.items():
            if heard_s >= 0.9 * horizon_s:
                chosen = look
        return chosen

    def predict_proba(self, y, sr, f0_hz):
        """Class probabilities [shape=(n_classes,)] in the order of ``classes_``.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), float32]
            The note from its onset, at ``sr``.
        sr : int > 0 [Hz]
        f0_hz : float > 0 [Hz]
            The note's pitch.
        """
        from rtnote.learn.features import resample, resampled_length

        y = np.asarray(y, dtype=np.float32)
        f0_hz = float(f0_hz) if np.isfinite(f0_hz) and f0_hz > 0 else 440.0
        look = self.look_for(resampled_length(len(y), sr) / 16000.0)
        y16 = None  # resampled only if a look is not in the memo
        probas = []
        with _blas().limit(limits=1, user_api="blas"):
            for member in self.combine[look]:
                key, p = self._recall(member, y, sr, f0_hz)
                if p is None:
                    if y16 is None:
                        y16 = resample(y, sr)
                    _, features, proba = self._steps[member]
                    p = proba(features(y16, f0_hz)[None, :])[0]
                    self._remember(key, y, p)
                probas.append(p)
        return vote(probas, self._prior, list(self.combine[look].values()))

    def _recall(self, member, y, sr, f0_hz):
        """(memo key, probabilities or None) of one member at ``y``: a member the engine asked
        before on the same first samples (a shorter look of the same note) is not recomputed.

        The key holds a sparse sample of the look's samples (~64 of them) and the memo the
        bytes of all of them: a hit needs them all identical, at a few us instead of the
        ~80 us of hashing 0.4 s of audio. The key is None when ``y`` does not cover the look.
        """
        n = int(round(self._steps[member][0] * sr))
        if len(y) < n:
            return None, None
        key = (member, sr, f0_hz, n, y[:n:max(1, n // 64)].tobytes())
        held = self._memo.get(key)
        if held is not None and held[0] == y[:n].tobytes():
            return key, held[1]
        return key, None

    def _remember(self, key, y, p):
        """Keep the probabilities ``p`` of the member ``key`` (from :meth:`_recall`) at ``y``;
        the memo holds the last 16."""
        if key is None:
            return
        if key not in self._memo and len(self._memo) >= 16:
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = (y[:key[3]].tobytes(), p)

    def predict(self, y, sr, f0_hz):
        """(family name, confidence in [0, 1]) of one note; see :meth:`predict_proba`."""
        p = self.predict_proba(y, sr, f0_hz)
        i = int(np.argmax(p))
        return str(self.classes_[i]), float(p[i])


def save_model(path, pipelines, looks, manifest, combine=None, class_prior=None):
    """Write the model file and its manifest (with sha256 and library versions added);
    see :class:`FamilyClassifier` for ``combine`` and ``class_prior``.

    Returns
    -------
    dict : the manifest written
    """
    import joblib

    from rtnote.sinks.files import atomic_write

    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {"format": FORMAT, "looks": dict(looks), "pipelines": pipelines,
               "combine": combine, "class_prior": class_prior}
    with atomic_write(path, "wb") as f:
        joblib.dump(payload, f, compress=3)
    manifest = dict(manifest)
    manifest.update({"model_file": os.path.basename(path), "format": FORMAT,
                     "sha256": sha256_of(path), "size_bytes": os.path.getsize(path),
                     "versions": library_versions()})
    with atomic_write(manifest_path(path)) as f:
        json.dump(manifest, f, indent=2, sort_keys=False)
        f.write("\n")
    umask = os.umask(0)
    os.umask(umask)
    for written in (path, manifest_path(path)):
        os.chmod(written, 0o666 & ~umask)  # temporary files are created private
    return manifest


def read_manifest(model_path):
    """The manifest of a model file, checked for shape. Raises ModelError."""
    path = manifest_path(model_path)
    if not os.path.exists(path):
        raise ModelError(f"no manifest vouches for {model_path} (expected {path}); a model file "
                         "can run code when loaded, so pass --trust-model only for a file you made")
    try:
        with open(path) as f:
            manifest = json.load(f)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str) \
                or not isinstance(manifest.get("versions"), dict):
            raise ValueError("sha256 or versions missing")
    except (OSError, ValueError) as exc:
        raise ModelError(f"manifest {path} is unreadable ({exc}); retrain with 'rtnote train'") from None
    return manifest


def check_model(model_path, manifest):
    """Raise ModelError unless the file's hash and this machine's libraries match the manifest."""
    digest = sha256_of(model_path)
    if digest != manifest["sha256"]:
        raise ModelError(f"{model_path} does not match its manifest (sha256 {digest[:12]}..., "
                         f"expected {manifest['sha256'][:12]}...): the file is corrupt, truncated "
                         "or was changed; reinstall rtnote or retrain with 'rtnote train'")
    here = library_versions()
    for name in PINNED:
        made = manifest["versions"].get(name)
        if made != here.get(name):
            raise ModelError(f"{model_path} was made with {name} {made}, this is {here.get(name)}: "
                             f"install {name}=={made}, retrain with 'rtnote train', or pass "
                             "--trust-model to load it anyway")


def load_model(path=None, trust=False, warm_up=True):
    """Load a family classifier, verified against its manifest.

    Parameters
    ----------
    path : str or None
        A ``.joblib`` model file; None for the shipped model.
    trust : bool
        Load even if no manifest vouches for the file, or its hash or library versions differ.
    warm_up : bool
        Run one prediction, so the first live note does not pay for imports.

    Returns
    -------
    FamilyClassifier

    Raises
    ------
    rtnote.errors.ModelError
        One line saying what is wrong: missing, unvouched, corrupt, truncated, edited,
        made with other library versions, or not a family model.
    """
    path = os.fspath(path) if path is not None else default_model_path()
    if not os.path.isfile(path):
        raise ModelError(f"model file {path} not found (train one with 'rtnote train -o {path}', "
                         "or pass --model none to run without families)")
    manifest = None
    if not trust:
        manifest = read_manifest(path)
        check_model(path, manifest)
    try:
        import joblib

        payload = joblib.load(path)
    except Exception as exc:  # a pickle can fail in any way
        raise ModelError(f"cannot load model {path}: {type(exc).__name__}: {exc}".strip()) from None
    try:
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError("not an rtnote family model")
        classifier = FamilyClassifier(payload["pipelines"], payload["looks"], payload.get("combine"),
                                      payload.get("class_prior"))
        classifier.manifest = manifest
        classifier.path = path
        if warm_up:
            for horizon_s in classifier.looks.values():
                classifier.predict(np.zeros(int(horizon_s * 16000), np.float32), 16000, 440.0)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path} is not a usable family model ({type(exc).__name__}: {exc})") from None
    return classifier
