"""Online onset detection: log spectral flux (SuperFlux-style) and a causal peak picker."""

import numpy as np
from scipy.ndimage import maximum_filter1d

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
    lag : int > 0 [hops]
        Distance to the frame compared against.
    fmax : float > 0 [Hz]
        Highest frequency counted.
    """

    def __init__(self, sr, n_fft, lag=3, fmax=8000.0):
        if n_fft < 16:
            raise ConfigError(f"onset n_fft must be >= 16 samples, not {n_fft}")
        self.n_fft = int(n_fft)
        self.lag = int(lag)
        self.window = np.hanning(self.n_fft).astype(np.float32)
        self.n_bins = max(2, min(self.n_fft // 2 + 1, int(fmax * self.n_fft / sr)))
        self.reset()

    def reset(self):
        self._prev = None

    def process(self, frames):
        """ODF values for frames [shape=(k, n_fft)], one per hop; returns shape (k,)."""
        spec = np.abs(np.fft.rfft(frames * self.window, axis=1)[:, 1:self.n_bins])
        logmag = np.log1p(100.0 * spec)
        prev = np.repeat(logmag[:1], self.lag, axis=0) if self._prev is None else self._prev
        stacked = np.concatenate((prev, logmag))
        ref = maximum_filter1d(stacked[:-self.lag], size=3, axis=1)
        flux = np.maximum(stacked[self.lag:] - ref, 0.0).mean(axis=1)
        self._prev = stacked[-self.lag:]
        return flux


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
        odf = np.asarray(odf, dtype=np.float64)
        both = np.concatenate((self._recent, odf))
        past = np.lib.stride_tricks.sliding_window_view(both, self.n_avg)[: len(odf)]
        threshold = self.delta + self.ratio * past.mean(axis=1) + self.max_ratio * past.max(axis=1)
        self._recent = both[-self.n_avg:].copy()
        fired = np.zeros(len(odf), dtype=bool)
        armed, since = self._armed, self._since
        for i, above in enumerate((odf > threshold).tolist()):
            since += 1
            if not above:
                armed = True
            elif armed and since >= self.min_ioi:
                armed, since = False, 0
                fired[i] = True
        self._armed, self._since = armed, since
        return fired
