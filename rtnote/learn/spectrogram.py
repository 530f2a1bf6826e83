"""A small convolutional network over a note's first log-mel frames.

It hears what hand-made features miss (the shape of the attack in time and frequency) and
votes beside the feature model at every look. Trained with JAX (the ``train`` extra), run
with plain NumPy: the shipped model needs neither JAX nor a GPU.

Input: :func:`log_mel_patch`, log-mel power [dB re the patch's peak, floored at -80 dB] of
N_MELS bands (30 Hz - 8 kHz) in 32-ms frames every 10 ms from the onset, and log2(f0 / 440 Hz).
Network: three 3x3 convolutions with ReLU (max-pool by 2 over frequency after the first two),
mean and max over time (so any number of frames works and one network serves every look),
a dense layer with ReLU and a softmax over the families.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from rtnote.learn import SR
from rtnote.learn.features import FLOOR_DB, HOP, N_FFT, _WINDOW, _frames, _mel_basis

N_MELS = 64


def n_frames(n_samples):
    """Frames [count] of :func:`log_mel_patch` for ``n_samples`` of 16 kHz audio."""
    return 1 + max(0, n_samples - N_FFT) // HOP


def log_mel_patch(y, horizon_s):
    """Log-mel frames of a note's first ``horizon_s`` seconds, padded with NaN frames to the
    horizon's length where the audio is shorter (not heard yet).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float32]
        The note from its onset at 16 kHz.
    horizon_s : float > 0 [seconds]

    Returns
    -------
    np.ndarray [shape=(N_MELS, n_frames(horizon)), float32]
        dB re the peak of the heard frames / 80 + 1: 1 at the peak, 0 at the -80 dB floor
        (the convolutions' zero padding is silence).
    """
    from scipy.fft import rfft

    horizon = int(round(horizon_s * SR))
    y = np.asarray(y, dtype=np.float32)[:horizon]
    spec = np.abs(rfft(_frames(y) * _WINDOW, axis=1)) ** 2
    mel = 10 * np.log10(spec @ _mel_basis(N_MELS).T + 1e-10)
    mel = np.maximum(mel - mel.max(), FLOOR_DB) / -FLOOR_DB + 1.0
    out = np.full((N_MELS, n_frames(horizon)), np.nan, np.float32)
    out[:, :len(mel)] = mel.T[:, :out.shape[1]]
    return out


def net_row(y, f0_hz, horizon_s):
    """The network's input row for a note: ``[log2(f0 / 440 Hz), log_mel_patch(y).ravel()]``
    (16 kHz audio from its onset; ``f0_hz`` > 0 [Hz])."""
    patch = log_mel_patch(y, horizon_s)
    return np.concatenate([[np.log2(max(float(f0_hz), 1.0) / 440.0)], patch.ravel()]).astype(np.float32)


def _conv3x3(x, w, b):
    """'Same' 3x3 convolution of ``x`` [F, T, C_in] with ``w`` [3, 3, C_in, C_out] + ``b``."""
    f, t, c = x.shape
    padded = np.zeros((f + 2, t + 2, c), x.dtype)
    padded[1:-1, 1:-1] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1))  # F,T,C,3,3
    cols = windows.transpose(0, 1, 3, 4, 2).reshape(f * t, 9 * c)
    return (cols @ w.reshape(9 * c, -1) + b).reshape(f, t, -1)


class SpectrogramNet(ClassifierMixin, BaseEstimator):
    """The convolutional network (see module docstring) as a scikit-learn classifier.

    ``fit(X, y)`` and ``predict_proba(X)`` take rows ``[log2(f0 / 440), patch.ravel()]`` of
    :func:`log_mel_patch` patches; NaN frames (not heard yet) are left out row by row.

    Parameters
    ----------
    channels : tuple of 3 int
    hidden : int
    epochs : int
    batch_size : int
    learning_rate, weight_decay : float
        AdamW.
    dropout : float in [0, 1)
        Share of the dense layers' inputs dropped in training.
    crop_frames : tuple of int
        Training batches are cut to one of these lengths [frames] at random, so the network
        learns every look from one set of weights.
    eq_db, floor : float
        Training-batch augmentation (rtnote.learn.jaxnet.augment_patches): random EQ up to
        ``eq_db`` dB, random noise floor up to ``floor``; 0 = none.
    random_state : int
    """

    def __init__(self, channels=(24, 48, 64), hidden=128, epochs=24, batch_size=64,
                 learning_rate=1e-3, weight_decay=1e-2, dropout=0.3,
                 crop_frames=(1, 2, 3, 4, 5, 7, 10, 20, 37), eq_db=18.0, floor=0.35, random_state=0):
        self.channels = channels
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.crop_frames = crop_frames
        self.eq_db = eq_db
        self.floor = floor
        self.random_state = random_state

    @staticmethod
    def _split(X):
        X = np.asarray(X, dtype=np.float32)
        return X[:, 0], X[:, 1:].reshape(len(X), N_MELS, -1)

    def fit(self, X, y, progress=None):
        """Train on rows of full-length patches; ``progress(epoch, epochs)`` after each epoch."""
        from rtnote.learn.jaxnet import train_network

        self.classes_, labels = np.unique(y, return_inverse=True)
        pitch, patches = self._split(X)
        self.params_ = train_network(np.nan_to_num(patches, nan=0.0), pitch, labels,
                                     len(self.classes_), self, progress=progress)
        return self

    def _proba_one(self, pitch, patch):
        heard = ~np.isnan(patch[0])
        x = patch[:, heard][:, :, None] if heard.any() else np.zeros((N_MELS, 1, 1), np.float32)
        p = self.params_
        for i, (w, b) in enumerate(p["conv"]):
            x = np.maximum(_conv3x3(x, w, b), 0.0)
            if i < 2:
                x = x.reshape(x.shape[0] // 2, 2, *x.shape[1:]).max(axis=1)
        pooled = np.concatenate([x.mean(axis=1), x.max(axis=1)], axis=0).ravel()
        h = np.maximum(np.append(pooled, pitch) @ p["dense"][0] + p["dense"][1], 0.0)
        z = h @ p["out"][0] + p["out"][1]
        z = np.exp(z - z.max())
        return z / z.sum()

    def predict_proba(self, X):
        pitch, patches = self._split(X)
        return np.stack([self._proba_one(f, patch) for f, patch in zip(pitch, patches)])

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class SpectrogramLook:
    """One look of a :class:`SpectrogramNet`: ``features(y16, f0)`` and ``predict_proba``
    as the engine's classifier calls them, for the first ``horizon_s`` seconds of a note."""

    def __init__(self, net, horizon_s):
        self.net = net
        self.horizon_s = horizon_s
        self.classes_ = net.classes_

    def features(self, y, f0_hz):
        return net_row(y, f0_hz, self.horizon_s)

    def predict_proba(self, X):
        return self.net.predict_proba(X)
