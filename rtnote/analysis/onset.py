"""Online onset detection: log spectral flux (SuperFlux-style) and a causal peak picker."""

import functools

import numpy as np
import scipy.fft
from numba import njit
from scipy.ndimage import uniform_filter1d

from rtnote.errors import ConfigError


class SpectralFlux:
    """Onset detection function: positive log-magnitude change against the frame ``lag`` hops
    earlier (SuperFlux's mu), so slow attacks add up as well as sharp ones.

    Each value uses the ``n_fft`` samples ending at a hop boundary, so it looks at no future
    audio. The earlier frame is max-filtered over 3 bins to ignore vibrato.

    Parameters
    ----------
    sr : int > 0 [Hz]
    n_fft : int > 0 [samples]
        Frame length (512 at 44.1 kHz ~ 11.6 ms).
    hop_length : int > 0 [samples]
        One frame ends at each hop boundary.
    lag : int > 0 [hops]
        Distance to the frame compared against.
    fmax : float > 0 [Hz]
        Highest frequency counted.
    """

    def __init__(self, sr, n_fft, hop_length, lag=3, fmax=8000.0):
        if n_fft < 16:
            raise ConfigError(f"onset n_fft must be >= 16 samples, not {n_fft}")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.lag = int(lag)
        self.window = np.hanning(self.n_fft).astype(np.float32)
        self.n_bins = max(2, min(self.n_fft // 2 + 1, int(fmax * self.n_fft / sr)))
        self.reset()

    def reset(self):
        self._prev = None

    def process(self, y):
        """ODF values [shape=(k,)] of the frames of ``y`` [float32] ending at its hop
        boundaries: ``len(y) = n_fft + (k - 1) * hop_length`` samples."""
        windowed = _windowed_frames(y, self.window, self.hop_length)
        spec = np.abs(scipy.fft.rfft(windowed, axis=1)[:, 1:self.n_bins])
        logmag = np.log(100.0 * spec + 1.0)  # (np.log1p is not vectorized for float32)
        prev = np.repeat(logmag[:1], self.lag, axis=0) if self._prev is None else self._prev
        stacked = np.concatenate((prev, logmag))
        self._prev = stacked[-self.lag:]
        return _rise(stacked, self.lag)


@njit("float32[:, ::1](float32[::1], float32[::1], int64)", cache=True)
def _windowed_frames(y, window, hop_length):
    """Frames of ``y`` times ``window``, one every ``hop_length`` samples [shape=(k, len(window))]."""
    n_fft = len(window)
    out = np.empty(((len(y) - n_fft) // hop_length + 1, n_fft), dtype=np.float32)
    for i in range(out.shape[0]):
        for j in range(n_fft):
            out[i, j] = y[i * hop_length + j] * window[j]
    return out


@njit("float64[::1](float32[:, ::1], int64)", cache=True)
def _rise(logmag, lag):
    """For each row of ``logmag`` from ``lag`` on: the mean over bins of its positive change
    from the row ``lag`` earlier, max-filtered over 3 bins (see :class:`SpectralFlux`)."""
    n, bins = logmag.shape
    out = np.empty(n - lag)
    for i in range(n - lag):
        ref, row = logmag[i], logmag[i + lag]
        total = 0.0
        for b in range(bins):
            level = ref[b]
            if b > 0:
                level = max(level, ref[b - 1])
            if b < bins - 1:
                level = max(level, ref[b + 1])
            total += max(row[b] - level, 0.0)
        out[i] = total / bins
    return out


class OnlinePeakPicker:
    """Causal onset picking: the ODF crosses an adaptive threshold while rising.

    An onset fires at the first hop where ``odf > delta + ratio * mean(recent odf)``, at least
    ``min_ioi`` after the previous onset, and re-arms once the ODF falls below the threshold.

    Parameters
    ----------
    hop_length : int > 0 [samples]
    sr : int > 0 [Hz]
    delta : float >= 0
        Absolute part of the threshold [ODF units].
    ratio : float >= 0
        Relative part of the threshold, times the mean ODF over ``avg_s``.
    avg_s : float > 0 [seconds]
        Window of the mean and the maximum.
    max_ratio : float >= 0
        Part of the threshold, times the largest ODF over ``avg_s``: a new onset must stand
        out against the last one, so tremolo and beating do not read as attacks.
    min_ioi_s : float >= 0 [seconds]
        Minimum time between onsets.
    """

    def __init__(self, hop_length, sr, delta=0.2, ratio=1.5, max_ratio=0.5, avg_s=0.15,
                 min_ioi_s=0.04):
        self.delta = float(delta)
        self.ratio = float(ratio)
        self.max_ratio = float(max_ratio)
        self.n_avg = max(1, int(round(avg_s * sr / hop_length)))
        self.min_ioi = max(1, int(round(min_ioi_s * sr / hop_length)))
        self.reset()

    def reset(self):
        self._recent = np.zeros(self.n_avg)  # the last n_avg ODF values, oldest first
        self._armed = True
        self._since = self.min_ioi

    def process(self, odf):
        """Feed ODF values [shape=(k,)], one per hop; returns a bool array, True at the hops
        where an onset fires."""
        both = np.concatenate((self._recent, np.asarray(odf, dtype=np.float64)))
        self._recent = both[-self.n_avg:]
        fired, self._armed, self._since = _pick(both, self.n_avg, self.delta, self.ratio,
                                                self.max_ratio, self.min_ioi, self._armed, self._since)
        return fired


@njit("Tuple((boolean[::1], boolean, int64))(float64[::1], int64, float64, float64, float64, "
      "int64, boolean, int64)", cache=True)
def _pick(odf, n_avg, delta, ratio, max_ratio, min_ioi, armed, since):
    """:meth:`OnlinePeakPicker.process` on ``odf``, whose first ``n_avg`` values came before:
    (fired at each later value, armed, hops since the last onset)."""
    fired = np.zeros(len(odf) - n_avg, dtype=np.bool_)
    for i in range(len(fired)):
        total, top = 0.0, -np.inf
        for j in range(i, i + n_avg):
            total += odf[j]
            top = max(top, odf[j])
        since += 1
        if not odf[i + n_avg] > delta + ratio * total / n_avg + max_ratio * top:
            armed = True
        elif armed and since >= min_ioi:
            armed, since = False, 0
            fired[i] = True
    return fired, armed, since


@njit("float64[::1](float32[::1], int64, int64, int64)", cache=True)
def levels_db(y, first_end, hop_length, length):
    """Level [dBFS] of the ``length`` samples of ``y`` before each of the indices
    ``first_end``, ``first_end + hop_length``, ... up to ``len(y)``: their variance (the DC
    offset does not count)."""
    n = (len(y) - first_end) // hop_length + 1
    out = np.empty(n)
    for k in range(n):
        stop = first_end + k * hop_length
        mean = 0.0
        for j in range(stop - length, stop):
            mean += y[j]
        mean /= length
        total = 0.0
        for j in range(stop - length, stop):
            total += (y[j] - mean) ** 2
        out[k] = 10.0 * np.log10(total / length + 1e-12)
    return out


def frames(y, frame_length, hop_length):
    """Frames of ``y`` [shape=(n, frame_length)], one every ``hop_length`` samples, as a
    read-only strided view (no copy; a quarter of the cost of ``sliding_window_view`` for
    the one frame of a live hop)."""
    n = max(0, 1 + (len(y) - frame_length) // hop_length)
    step = y.strides[0]
    return np.lib.stride_tricks.as_strided(y, (n, frame_length), (hop_length * step, step),
                                           writeable=False)


def power_of_two_samples(seconds, sr):
    """The power of two [samples] nearest ``seconds * sr`` (sr [Hz])."""
    return int(2 ** round(np.log2(max(1.0, seconds * sr))))


def harmonic_levels(y, sr, f0_hz, n_fft, hop_length, n_harmonics=8):
    """Energy at the harmonics of ``f0_hz`` in frames of ``y`` [dB, shape=(n_frames,)]:
    the strongest bin within one of each harmonic, summed; frame ``j`` covers samples
    ``[j * hop_length, j * hop_length + n_fft)``."""
    framed = frames(y, n_fft, hop_length)
    n = len(framed)
    spectrum = scipy.fft.rfft(framed * _hann(n_fft), axis=1)  # float32: half the memory
    bins = np.round(np.arange(1, n_harmonics + 1) * f0_hz * n_fft / sr).astype(int)
    bins = bins[(bins >= 1) & (bins < spectrum.shape[1] - 1)]
    near = np.abs(spectrum[:, np.concatenate([bins - 1, bins, bins + 1])]).astype(np.float64) ** 2
    return 10.0 * np.log10(near.reshape(n, 3, -1).max(axis=1).sum(axis=1) + 1e-12)


@functools.lru_cache(maxsize=8)
def _hann(n):
    """np.hanning(n) as float32."""
    return np.hanning(n).astype(np.float32)


def harmonic_rise(y, sr, f0_hz, onset, frame_s=0.023, hop_s=0.0058, tol_db=2.5, drop_db=25.0,
                  floor_db=3.0, min_rise_db=15.0, rise_share=0.3, place=1.0):
    """Where a note's harmonics began to sound, at or before its detected ``onset``.

    A bowed, blown or sung note swells for 50-200 ms, and under the last note's release its
    attack shows late; its harmonics rise from the start. From the frame ending at
    ``onset``, going back while their level keeps falling (within ``tol_db`` of the lowest
    level met), the sound starts after the last frame more than ``drop_db`` below the level
    at the end of ``y`` (or within ``floor_db`` of the lowest level), at ``place`` in that
    frame (1: its end, 0.5: its middle). The onset stays where
    it is when the rise is less than ``min_rise_db`` [dB], or when less than ``rise_share``
    of it (in dB) came before the onset: the onset is at the rise, and the lower level
    before it is the last note's (its vibrato, say) rather than this one's.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float32]
        Audio from before the onset to the decision (its end is where the note is heard).
    sr : int > 0 [Hz]
    f0_hz : float > 0 [Hz]
        The note's pitch.
    onset : int [samples into ``y``]
    frame_s, hop_s : float > 0 [seconds]
        Frames and their hop (powers of two in samples: 1024 and 256 at 44.1 kHz); twice as
        long frames below 300 Hz, where a semitone is a few bins apart.

    Returns
    -------
    int [samples into ``y``], <= ``onset``
    """
    n_fft = power_of_two_samples(frame_s, sr) * (2 if f0_hz < 300.0 else 1)
    hop_length = power_of_two_samples(hop_s, sr)
    before = y[:max(onset, n_fft) + hop_length]  # frames up to the one ending past onset
    if len(before) < n_fft + 2 * hop_length or len(y) < n_fft + 2 * hop_length:
        return onset

    def smoothed(x):
        return uniform_filter1d(harmonic_levels(x, sr, f0_hz, n_fft, hop_length), 3, mode="nearest")

    heard = smoothed(y[-(n_fft + 2 * hop_length):]).max()
    level = smoothed(before)
    last = len(level) - 1
    first, low = last, level[last]
    while first > 0 and level[first - 1] <= low + tol_db:
        first -= 1
        low = min(low, level[first])
    if heard - low < min_rise_db or level[last] - low < rise_share * (heard - low):
        return onset
    start_db = max(heard - drop_db, low + floor_db)
    below = np.flatnonzero(level[first:last + 1] < start_db)
    if not len(below):
        return onset
    return min(onset, (first + int(below[-1])) * hop_length + int(place * n_fft) + hop_length // 2)
