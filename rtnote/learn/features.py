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

from rtnote.analysis.onset import frames
from rtnote.learn import SR

N_FFT = 512  # samples (32 ms at 16 kHz)
HOP = 160  # samples (10 ms)
ENV_BLOCK = 80  # samples (5 ms)
FLOOR_DB = -80.0
ENV_TIMES_S = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
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


def resampled_length(n, sr_in, sr_out=SR):
    """Length [samples] of :func:`resample` of ``n`` samples, without resampling them."""
    if int(sr_in) == int(sr_out):
        return n
    ratio = Fraction(int(sr_out), int(sr_in))
    return -(-n * ratio.numerator // ratio.denominator)  # ceil, as resample_poly


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


def _mean(x, axis=None, keepdims=False):
    """``x.mean(axis)`` of a float array: the same numbers, without ``ndarray.mean``'s
    per-call overhead (a few us, which adds up over the small arrays here)."""
    n = x.size if axis is None else x.shape[axis]
    return np.add.reduce(x, axis=axis, keepdims=keepdims) / n


def _pad_to(y, n):
    """``y`` [float32] zero-padded at the end to at least ``n`` samples (as np.pad, faster)."""
    if len(y) >= n:
        return y
    out = np.zeros(n, np.float32)
    out[:len(y)] = y
    return out


def _frames(y):
    """Frames of N_FFT samples every HOP samples [shape=(n_frames, N_FFT)], a read-only view
    of ``y`` (zero-padded to one frame if shorter)."""
    return frames(_pad_to(y, N_FFT), N_FFT, HOP)


@lru_cache(maxsize=256)
def _centred_times(n, hop):
    """Times [seconds] of ``n`` points ``hop`` samples apart minus their mean, and the sum of
    their squares [s**2]."""
    t = np.arange(n) * hop / SR
    tc = t - t.mean()
    tc.flags.writeable = False
    return tc, tc @ tc


def _slope(values, hop):
    """Least-squares slope [per second] of ``values`` [..., n], points ``hop`` samples apart."""
    n = values.shape[-1]
    if n < 2:
        return np.zeros(values.shape[:-1])
    tc, tt = _centred_times(n, hop)
    return (values - _mean(values, axis=-1, keepdims=True)) @ tc / tt


def _harmonic_n_fft(n):
    """FFT size [samples] for a harmonic window of ``n`` samples: at least 8192 (1.95-Hz bins)."""
    return max(8192, 1 << (max(n, 64) - 1).bit_length())


@lru_cache(maxsize=256)
def _harmonic_bins(f0_hz, n_fft, n_harmonics):
    """The bins searched for harmonics 1..n_harmonics of ``f0_hz`` [Hz] in an ``n_fft``
    power spectrum: +-f0/4 around each, for the harmonics (from the first) whose band fits
    below Nyquist.

    Returns
    -------
    lo, hi : np.ndarray [shape=(n_fit,), int]
        Each band is ``power[lo:hi]``.
    idx : np.ndarray [shape=(n_fit, width), int]
        The bins of each band, padded to the widest band (padding repeats a valid bin).
    inside : np.ndarray [shape=(n_fit, width), bool]
        Whether ``idx`` is in the band (False on the padding).
    """
    n_bins = n_fft // 2 + 1
    bin_hz = SR / n_fft
    centre = np.arange(1, n_harmonics + 1) * f0_hz / bin_hz
    half = max(1.0, 0.25 * f0_hz / bin_hz)
    lo = (centre - half).astype(int)
    hi = (centre + half).astype(int) + 1
    fits = np.logical_and.accumulate((hi < n_bins - 1) & (lo >= 0))
    lo, hi = lo[fits], hi[fits]
    width = int((hi - lo).max()) if len(lo) else 1
    idx = lo[:, None] + np.arange(width)
    inside = idx < hi[:, None]
    idx = np.minimum(idx, n_bins - 1)
    for a in (lo, hi, idx, inside):
        a.flags.writeable = False  # shared by every call with these arguments
    return lo, hi, idx, inside


def _harmonics(segments, f0_hz, n_harmonics):
    """Harmonic profile of each window in ``segments`` (each Hann-windowed, its own FFT).

    Returns
    -------
    levels : np.ndarray [shape=(len(segments), n_harmonics)]
        Level of each harmonic [dB re the strongest], FLOOR_DB if not heard.
    extras : np.ndarray [shape=(len(segments), 4)]
        Harmonic-to-total energy [dB], odd/even balance [dB], harmonic centroid [harmonic
        number], log10 of the inharmonicity [ratio].
    """
    segments = [_pad_to(seg, 64) for seg in segments]
    if len({_harmonic_n_fft(len(seg)) for seg in segments}) > 1:
        rows = [_harmonics([seg], f0_hz, n_harmonics) for seg in segments]
        return tuple(np.concatenate(part) for part in zip(*rows))
    n_fft = _harmonic_n_fft(len(segments[0]))
    power = np.array([_power(seg, n_fft) for seg in segments])
    bin_hz = SR / n_fft
    k = np.arange(1, n_harmonics + 1)
    lo, hi, idx, inside = _harmonic_bins(f0_hz, n_fft, n_harmonics)
    n_fit = len(lo)

    # the peak of each harmonic's band (the padding is 0 < power, so it never wins)
    bands = np.where(inside, power[:, idx], 0.0)
    j = bands.argmax(axis=2)
    levels = np.full((len(segments), n_harmonics), FLOOR_DB)
    levels[:, :n_fit] = 10 * np.log10(bands.max(axis=2))
    freqs = np.full((len(segments), n_harmonics), np.nan)
    freqs[:, :n_fit] = (lo + j) * bin_hz
    # band by band, as float32 (summing the padded rows would round differently)
    energy = np.array([sum(p[a:b].sum() for a, b in zip(lo, hi)) for p in power], np.float32)
    top = int(min(power.shape[1], (n_harmonics + 0.5) * f0_hz / bin_hz))
    total = power[:, max(1, int(0.5 * f0_hz / bin_hz)):max(top, 2)].sum(axis=1) + EPS

    heard = levels > FLOOR_DB
    peak = np.where(heard, levels, -np.inf).max(axis=1, keepdims=True)
    levels = np.where(heard, np.maximum(levels - peak, FLOOR_DB), FLOOR_DB)
    lin = 10 ** (levels / 10) * heard
    odd, even = lin[:, 2::2].sum(axis=1) + 1e-8, lin[:, 1::2].sum(axis=1) + 1e-8
    centroid = (k * lin).sum(axis=1) / (lin.sum(axis=1) + 1e-8)
    strong = heard & (levels > -40)  # heard harmonics have a frequency (no NaN)
    deviation = np.abs(freqs / (k * f0_hz) - 1)
    inharm = np.array([_mean(d[s]) if s.any() else 0.0 for d, s in zip(deviation, strong)])
    extras = np.stack([10 * np.log10(energy / total + EPS), 10 * np.log10(odd / even),
                       centroid, np.log10(inharm + 1e-4)], axis=1)
    return levels, extras


#: Windows [seconds after the onset] of the pitch-relative spectra.
RELATIVE_WINDOWS_S = ((0.0, 0.05), (0.05, 0.1), (0.1, 0.25), (0.25, 0.4), (0.4, 0.65), (0.75, 1.0))
RELATIVE_STEPS = np.arange(-12, 60)  # semitones re f0: f0/2 up to 5 octaves above
RELATIVE_N_FFT = 4096  # samples (3.9-Hz bins)


@lru_cache(maxsize=256)
def _relative_bands(f0_hz):
    """The semitone bands of RELATIVE_STEPS around ``f0_hz`` [Hz] in a RELATIVE_N_FFT
    power spectrum: the first bin of each (for ``np.maximum.reduceat``) and whether the
    band is always FLOOR_DB (above 7.8 kHz, or narrower than a bin)."""
    n_bins = RELATIVE_N_FFT // 2 + 1
    edges = f0_hz * 2.0 ** ((np.append(RELATIVE_STEPS, RELATIVE_STEPS[-1] + 1) - 0.5) / 12.0)
    idx = np.clip(np.round(edges / (SR / RELATIVE_N_FFT)).astype(int), 1, n_bins - 1)
    starts, floor = idx[:-1], (edges[1:] > 7800.0) | (idx[:-1] >= idx[1:])
    starts.flags.writeable = floor.flags.writeable = False  # shared by calls with this f0
    return starts, floor


def _relative_spectra(segments, f0_hz):
    """Log power [dB re its max] in semitone-wide bands centred on ``f0 * 2**(k/12)`` for k
    in RELATIVE_STEPS (the maximum of each band): a pitch-invariant picture of the partials
    and of the noise between them. Bands above 7.8 kHz are FLOOR_DB.

    Parameters
    ----------
    segments : list of np.ndarray [float32]
        Windows of the note (Hann-windowed here; one FFT for all of them).
    f0_hz : float [Hz]

    Returns
    -------
    np.ndarray [shape=(len(segments), len(RELATIVE_STEPS)), float32]
    """
    from scipy.fft import rfft

    frames = np.zeros((len(segments), RELATIVE_N_FFT), np.float32)
    for row, seg in zip(frames, segments):
        seg = _pad_to(seg, 64)
        np.multiply(seg, _hann(len(seg)), out=row[:len(seg)])
    power = np.abs(rfft(frames, axis=1)) ** 2 + EPS
    starts, floor = _relative_bands(f0_hz)
    out = 10 * np.log10(np.maximum.reduceat(power, starts, axis=1))
    out[:, floor] = FLOOR_DB
    heard = out > FLOOR_DB
    top = np.where(heard, out, -np.inf).max(axis=1, keepdims=True)
    return np.where(heard, np.maximum(out - top, FLOOR_DB), out)


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
    f0_hz = min(max(float(f0_hz), 20.0), 6000.0)
    peak = float(np.abs(y).max()) if heard else 0.0
    y = y / peak if peak > 0 else np.zeros(max(heard, 1), np.float32)

    # log-mel frames
    frames = _frames(y)
    from scipy.fft import rfft

    spec = np.abs(rfft(frames * _WINDOW, axis=1)) ** 2
    mel = 10 * np.log10(spec @ _mel_basis(n_mels).T + EPS)
    mel = np.maximum(mel - mel.max(), FLOOR_DB)
    mean = _mean(mel, axis=0)
    spread = np.sqrt(_mean((mel - mean) ** 2, axis=0))  # mel.std(axis=0)
    mfcc = _dct(n_mels, n_mfcc) @ mean
    groups = _mean(mel.reshape(len(mel), 8, n_mels // 8), axis=2)
    slopes = _slope(groups.T, HOP) * 0.1  # dB per 100 ms
    flux = _mean(np.maximum(np.diff(mel, axis=0), 0)) if len(mel) > 1 else 0.0

    # envelope
    n_blocks = max(1, len(y) // ENV_BLOCK)
    env = y[:n_blocks * ENV_BLOCK].reshape(n_blocks, -1) if len(y) >= ENV_BLOCK else y[None, :]
    env = 10 * np.log10(_mean(env.astype(np.float64) ** 2, axis=1) + EPS)
    env = np.maximum(env - env.max(), FLOOR_DB)
    times = [s for s in ENV_TIMES_S if s <= horizon_s + 1e-9]
    idx = np.minimum((np.array(times) * SR / ENV_BLOCK).astype(int) - 1, len(env) - 1)
    env_at = env[np.maximum(idx, 0)]
    i_peak = int(np.argmax(env))
    t_peak = (i_peak + 1) * ENV_BLOCK / SR
    after = env[i_peak:]
    decay = _slope(after, ENV_BLOCK) if len(after) >= 3 else 0.0

    # harmonic profile
    segments = [y[:HARMONIC_WINDOW]]
    if horizon > 2 * HARMONIC_WINDOW and len(y) - HARMONIC_WINDOW >= HARMONIC_WINDOW // 2:
        segments.append(y[HARMONIC_WINDOW:])
    levels, extras = _harmonics(segments, f0_hz, n_harmonics)
    parts = [levels[0], extras[0]]
    if horizon > 2 * HARMONIC_WINDOW:  # and the rest (the first again if it is too short)
        parts += [levels[-1], extras[-1], levels[-1] - levels[0]]

    # pitch-relative spectra of successive windows (what was not heard yet repeats the last)
    windows = [(int(a * SR), int(b * SR)) for a, b in RELATIVE_WINDOWS_S if b <= horizon_s + 1e-9]
    if windows:
        n_heard = 1 + sum(len(y) >= a + 160 for a, _ in windows[1:])
        spectra = _relative_spectra([y[a:b] for a, b in windows[:n_heard]], f0_hz)
        parts += list(spectra) + [spectra[-1]] * (len(windows) - n_heard)

    # spectral shape of the mean power spectrum
    ps = _mean(spec, axis=0) + EPS
    ps_sum = ps.sum()
    centroid = (ps * _FREQS).sum() / ps_sum
    bandwidth = np.sqrt((ps * (_FREQS - centroid) ** 2).sum() / ps_sum)
    rolloff = _FREQS[min(int(np.searchsorted(np.cumsum(ps), 0.85 * ps_sum)), len(_FREQS) - 1)]
    flatness = 10 * np.log10(np.exp(_mean(np.log(ps))) / _mean(ps))
    zcr = np.count_nonzero(np.diff(np.signbit(y))) / (len(y) - 1) if len(y) > 1 else 0.0
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
