"""Features of a note's first moments, normalized for pitch and loudness.

Everything here runs in the live engine too (a few hundred microseconds a note), so it is
plain NumPy on 16 kHz audio with filterbanks built once (by librosa). The sklearn transformer
:class:`NoteFeatures` takes rows packed by :func:`pack` (f0, heard length, samples), so a
fitted ``Pipeline(NoteFeatures, StandardScaler, model)`` maps raw note audio to a family.

Feature groups (all levels in dB relative to the note's own peak, frequencies relative to f0):

- pitch: log2(f0 / 440 Hz);
- log-mel spectrum: mean and spread over 10 ms frames, its cepstrum (MFCC), per-region slopes
  over time [dB per 100 ms] and spectral flux;
- envelope: RMS level at fixed times after the onset, time of the peak, decay rate [dB/s];
- harmonic profile: level of harmonics 1..K of f0 in the first 100 ms (and, for long looks,
  in the rest and its change), harmonic-to-total energy, odd/even balance, harmonic
  centroid, inharmonicity;
- spectral shape: centroid, bandwidth and roll-off relative to f0, flatness, zero crossings.
"""

from fractions import Fraction
from functools import lru_cache

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from rtnote.learn import SR

N_FFT = 512  # samples (32 ms at 16 kHz)
HOP = 160  # samples (10 ms)
ENV_BLOCK = 80  # samples (5 ms)
FLOOR_DB = -80.0
ENV_TIMES_S = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
HARMONIC_WINDOW = 1600  # samples: the first 100 ms
EPS = 1e-10


@lru_cache(maxsize=16)
def _resample_filter(up, down):
    """scipy.signal.resample_poly's own low-pass design, built once per pair of rates."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def resample(y, sr_in, sr_out=SR):
    """Resample ``y`` from ``sr_in`` to ``sr_out`` [Hz] (polyphase; the filter is designed once
    per pair of rates). The same routine serves training data and the live classifier.

    Returns
    -------
    np.ndarray [float32]
    """
    from scipy.signal import resample_poly

    y = np.asarray(y, dtype=np.float32)
    if int(sr_in) == int(sr_out):
        return y
    ratio = Fraction(int(sr_out), int(sr_in))
    h = _resample_filter(ratio.numerator, ratio.denominator)
    return resample_poly(y, ratio.numerator, ratio.denominator, window=h).astype(np.float32)


@lru_cache(maxsize=4)
def _mel_basis(n_mels):
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=n_mels, fmin=30.0, fmax=SR / 2).astype(np.float32)


@lru_cache(maxsize=4)
def _dct(n_mels, n_mfcc):
    from scipy.fft import dct

    return dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[1:n_mfcc + 1].astype(np.float32)


_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


@lru_cache(maxsize=64)
def _hann(n):
    return np.hanning(n).astype(np.float32)


def _power(y, n_fft):
    """|rfft(hann * y, n_fft)|**2 + EPS of one window (float32)."""
    from scipy.fft import rfft

    return np.abs(rfft(y * _hann(len(y)), n_fft)) ** 2 + EPS
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SR)


def _frames(y):
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    n = 1 + (len(y) - N_FFT) // HOP
    return np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP][:n]


def _slope(values, t):
    """Least-squares slope of ``values`` [..., n] against ``t`` [n]."""
    if len(t) < 2:
        return np.zeros(values.shape[:-1])
    tc = t - t.mean()
    return (values - values.mean(axis=-1, keepdims=True)) @ tc / (tc @ tc)


def _harmonics(y, f0_hz, n_harmonics):
    """Harmonic levels [dB re strongest], harmonic-to-total [dB], odd/even [dB], harmonic
    centroid [harmonic number], inharmonicity [ratio] of one window of ``y``."""
    n = len(y)
    if n < 64:
        y = np.pad(y, (0, 64 - n))
        n = 64
    n_fft = max(8192, 1 << int(np.ceil(np.log2(n))))
    power = _power(y, n_fft)
    bin_hz = SR / n_fft
    k = np.arange(1, n_harmonics + 1)
    centre = k * f0_hz / bin_hz
    half = max(1.0, 0.25 * f0_hz / bin_hz)
    levels = np.full(n_harmonics, FLOOR_DB)
    freqs = np.full(n_harmonics, np.nan)
    harmonic_energy = 0.0
    for i, c in enumerate(centre):
        lo, hi = int(c - half), int(c + half) + 1
        if hi >= len(power) - 1 or lo < 0:
            break
        seg = power[lo:hi]
        j = int(np.argmax(seg))
        levels[i] = 10 * np.log10(seg[j])
        freqs[i] = (lo + j) * bin_hz
        harmonic_energy += seg.sum()
    top = int(min(len(power), (n_harmonics + 0.5) * f0_hz / bin_hz))
    total = power[max(1, int(0.5 * f0_hz / bin_hz)):max(top, 2)].sum() + EPS
    heard = levels > FLOOR_DB
    peak = levels[heard].max() if heard.any() else 0.0
    levels = np.where(heard, np.maximum(levels - peak, FLOOR_DB), FLOOR_DB)
    lin = 10 ** (levels / 10) * heard
    odd, even = lin[2::2].sum() + 1e-8, lin[1::2].sum() + 1e-8
    centroid = (k * lin).sum() / (lin.sum() + 1e-8)
    strong = heard & (levels > -40)
    inharm = np.nanmean(np.abs(freqs[strong] / (k[strong] * f0_hz) - 1)) if strong.any() else 0.0
    extras = [10 * np.log10(harmonic_energy / total + EPS), 10 * np.log10(odd / even),
              centroid, np.log10(inharm + 1e-4)]
    return levels, np.array(extras)


#: Windows [seconds after the onset] of the pitch-relative spectra.
RELATIVE_WINDOWS_S = ((0.0, 0.05), (0.05, 0.1), (0.1, 0.25), (0.25, 0.4))
RELATIVE_STEPS = np.arange(-12, 60)  # semitones re f0: f0/2 up to 5 octaves above


def _relative_spectrum(y, f0_hz):
    """Log power [dB re its max] in semitone-wide bands centred on ``f0 * 2**(k/12)`` for k
    in RELATIVE_STEPS (the maximum of each band): a pitch-invariant picture of the partials
    and of the noise between them. Bands above 7.8 kHz are FLOOR_DB."""
    if len(y) < 64:
        y = np.pad(y, (0, 64 - len(y)))
    n_fft = 4096
    power = _power(y, n_fft)
    bin_hz = SR / n_fft
    edges = f0_hz * 2.0 ** ((np.append(RELATIVE_STEPS, RELATIVE_STEPS[-1] + 1) - 0.5) / 12.0)
    idx = np.clip(np.round(edges / bin_hz).astype(int), 1, len(power) - 1)
    peaks = np.maximum.reduceat(power, idx[:-1])
    out = 10 * np.log10(peaks)
    out[(edges[1:] > 7800.0) | (idx[:-1] >= idx[1:])] = FLOOR_DB
    heard = out > FLOOR_DB
    if heard.any():
        out[heard] = np.maximum(out[heard] - out[heard].max(), FLOOR_DB)
    return out


def note_features(y, f0_hz, horizon_s, n_mels=40, n_harmonics=12, n_mfcc=13):
    """The feature vector of a note's first ``horizon_s`` seconds.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float32]
        The note from its onset at 16 kHz; may be shorter than ``horizon_s`` (not heard yet).
    f0_hz : float > 0 [Hz]
        The note's pitch.
    horizon_s : float > 0 [seconds]
        The look this vector is for; audio beyond it is ignored.
    n_mels, n_harmonics, n_mfcc : int > 0

    Returns
    -------
    np.ndarray [shape=(n_features,), float32]
    """
    horizon = int(round(horizon_s * SR))
    y = np.asarray(y, dtype=np.float32)[:horizon]
    heard = len(y)
    f0_hz = float(np.clip(f0_hz, 20.0, 6000.0))
    peak = float(np.abs(y).max()) if heard else 0.0
    y = y / peak if peak > 0 else np.zeros(max(heard, 1), np.float32)

    # log-mel frames
    frames = _frames(y)
    from scipy.fft import rfft

    spec = np.abs(rfft(frames * _WINDOW, axis=1)) ** 2
    mel = 10 * np.log10(spec @ _mel_basis(n_mels).T + EPS)
    mel = np.maximum(mel - mel.max(), FLOOR_DB)
    t = np.arange(len(mel)) * HOP / SR
    mean = mel.mean(axis=0)
    spread = mel.std(axis=0)
    mfcc = _dct(n_mels, n_mfcc) @ mean
    groups = mel.reshape(len(mel), 8, n_mels // 8).mean(axis=2)
    slopes = _slope(groups.T, t) * 0.1  # dB per 100 ms
    flux = np.maximum(np.diff(mel, axis=0), 0).mean() if len(mel) > 1 else 0.0

    # envelope
    n_blocks = max(1, len(y) // ENV_BLOCK)
    env = y[:n_blocks * ENV_BLOCK].reshape(n_blocks, -1) if len(y) >= ENV_BLOCK else y[None, :]
    env = 10 * np.log10((env.astype(np.float64) ** 2).mean(axis=1) + EPS)
    env = np.maximum(env - env.max(), FLOOR_DB)
    times = [s for s in ENV_TIMES_S if s <= horizon_s + 1e-9]
    idx = np.minimum((np.array(times) * SR / ENV_BLOCK).astype(int) - 1, len(env) - 1)
    env_at = env[np.maximum(idx, 0)]
    i_peak = int(np.argmax(env))
    t_peak = (i_peak + 1) * ENV_BLOCK / SR
    after = env[i_peak:]
    decay = _slope(after, np.arange(len(after)) * ENV_BLOCK / SR) if len(after) >= 3 else 0.0

    # harmonic profile
    h1, x1 = _harmonics(y[:HARMONIC_WINDOW], f0_hz, n_harmonics)
    parts = [h1, x1]
    if horizon > 2 * HARMONIC_WINDOW:
        rest = y[HARMONIC_WINDOW:]
        if len(rest) >= HARMONIC_WINDOW // 2:
            h2, x2 = _harmonics(rest, f0_hz, n_harmonics)
        else:
            h2, x2 = h1, x1
        parts += [h2, x2, h2 - h1]

    # pitch-relative spectra of successive windows (what was not heard yet repeats the last)
    last = None
    for start_s, stop_s in RELATIVE_WINDOWS_S:
        if stop_s > horizon_s + 1e-9:
            break
        a, b = int(start_s * SR), int(stop_s * SR)
        if last is None or len(y) >= a + 160:
            last = _relative_spectrum(y[a:b], f0_hz)
        parts.append(last)

    # spectral shape of the mean power spectrum
    ps = spec.mean(axis=0) + EPS
    ps_sum = ps.sum()
    centroid = (ps * _FREQS).sum() / ps_sum
    bandwidth = np.sqrt((ps * (_FREQS - centroid) ** 2).sum() / ps_sum)
    rolloff = _FREQS[min(int(np.searchsorted(np.cumsum(ps), 0.85 * ps_sum)), len(_FREQS) - 1)]
    flatness = 10 * np.log10(np.exp(np.log(ps).mean()) / ps.mean())
    zcr = np.mean(np.abs(np.diff(np.signbit(y)))) if len(y) > 1 else 0.0
    shape = [np.log2(f0_hz / 440.0), np.log2(centroid / f0_hz), np.log2(bandwidth / f0_hz + 1e-3),
             np.log2(max(rolloff, 1.0) / f0_hz), flatness, zcr, heard / SR, t_peak, decay, flux]
    return np.concatenate([shape, mean, spread, mfcc, slopes, env_at] + parts).astype(np.float32)


def pack(y, f0_hz, horizon_s):
    """One input row for :class:`NoteFeatures`: ``[f0_hz, heard, y[:horizon] zero-padded]``.

    Parameters
    ----------
    y : np.ndarray [float32] at 16 kHz, from the onset
    f0_hz : float [Hz]
    horizon_s : float [seconds]
    """
    horizon = int(round(horizon_s * SR))
    row = np.zeros(2 + horizon, dtype=np.float32)
    heard = min(len(y), horizon)
    row[0], row[1] = f0_hz, heard
    row[2:2 + heard] = y[:heard]
    return row


class NoteFeatures(TransformerMixin, BaseEstimator):
    """Rows packed by :func:`pack` -> :func:`note_features` vectors (stateless transformer).

    Parameters
    ----------
    horizon_s : float > 0 [seconds]
        How much of the note after the onset the features describe.
    n_mels, n_harmonics, n_mfcc : int > 0
    """

    def __init__(self, horizon_s=0.1, n_mels=40, n_harmonics=12, n_mfcc=13):
        self.horizon_s = horizon_s
        self.n_mels = n_mels
        self.n_harmonics = n_harmonics
        self.n_mfcc = n_mfcc

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        return np.stack([self.features(row[2:2 + int(row[1])], row[0]) for row in X])

    def features(self, y, f0_hz):
        """Feature vector of one note (16 kHz audio from its onset)."""
        return note_features(y, f0_hz, self.horizon_s, self.n_mels, self.n_harmonics, self.n_mfcc)

    def __sklearn_is_fitted__(self):
        return True


class SeedFeatures(TransformerMixin, BaseEstimator):
    """The seed's recipe: 35 librosa features averaged over the clip (20 MFCC, 12 chroma,
    spectral centroid, spectral bandwidth, zero-crossing rate). Rows are 16 kHz clips."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.stack([seed_features(np.asarray(row, dtype=np.float32)) for row in X])

    def __sklearn_is_fitted__(self):
        return True


def seed_features(y, sr=SR):
    """The seed's 35 mean features of a clip [librosa defaults]."""
    import librosa

    return np.concatenate([
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20).mean(axis=1),
        librosa.feature.chroma_stft(y=y, sr=sr).mean(axis=1),
        librosa.feature.spectral_centroid(y=y, sr=sr).mean(axis=1),
        librosa.feature.spectral_bandwidth(y=y, sr=sr).mean(axis=1),
        librosa.feature.zero_crossing_rate(y).mean(axis=1),
    ]).astype(np.float32)
