"""Pitch of a short segment: YIN's cumulative mean normalized difference (de Cheveigné &
Kawahara 2002), summed directly for short segments and by FFT for long ones, with a
harmonic check against octave errors."""

import math
from functools import lru_cache

import numpy as np
import scipy.fft
from numba import njit
from scipy.ndimage import maximum_filter1d


@lru_cache(maxsize=64)
def _fft_length(n):
    return scipy.fft.next_fast_len(n, real=True)


DIRECT_MAX = 600_000  # multiply-adds up to which r(tau) is summed directly, not by FFT

# The kernels below are compiled by numba (a dependency of librosa) when the module is
# imported, from machine code cached on disk as librosa's are: a look is a few hundred lags,
# where NumPy's per-call overhead would cost more than the sums.


@njit("float64(float64[::1])", cache=True)
def _remove_mean(y):
    """Subtract ``y``'s mean in place; returns the energy left (sum of squares)."""
    n = len(y)
    mean = 0.0
    for j in range(n):
        mean += y[j]
    mean /= n
    energy = 0.0
    for j in range(n):
        y[j] -= mean
        energy += y[j] * y[j]
    return energy


@njit(fastmath=True)  # compiled into _direct_difference; reordered sums: SIMD
def _autocorrelation(y, tau_max):
    """r(tau) = sum of y[j] * y[j + tau] over the first ``len(y) - tau_max`` samples,
    tau = 0..tau_max; four lags per pass, so each y[j] is loaded once for them."""
    w = len(y) - tau_max
    r = np.empty(tau_max + 1)
    tau = 0
    while tau + 3 <= tau_max:
        r0 = r1 = r2 = r3 = 0.0
        for j in range(w):
            a = y[j]
            r0 += a * y[j + tau]
            r1 += a * y[j + tau + 1]
            r2 += a * y[j + tau + 2]
            r3 += a * y[j + tau + 3]
        r[tau], r[tau + 1], r[tau + 2], r[tau + 3] = r0, r1, r2, r3
        tau += 4
    for tau in range(tau, tau_max + 1):
        total = 0.0
        for j in range(w):
            total += y[j] * y[j + tau]
        r[tau] = total
    return r


@njit("float64[::1](float64[::1], float64[::1], int64)", cache=True)
def _normalized_difference(y, r, tau_max):
    """YIN's d'(tau) from the autocorrelation ``r`` of ``y`` (see :func:`cmndf`)."""
    w = len(y) - tau_max
    e_0 = 0.0
    for j in range(w):
        e_0 += y[j] * y[j]
    d = np.ones(tau_max + 1)
    e_tau, total = e_0, 0.0
    for tau in range(1, tau_max + 1):
        e_tau += y[w + tau - 1] ** 2 - y[tau - 1] ** 2  # the window's energy, moved by tau
        diff = max(e_0 + e_tau - 2.0 * r[tau], 0.0)
        total += diff
        if total > 0.0:
            d[tau] = diff * tau / total
    return d


@njit("float64[::1](float64[::1], int64)", cache=True)
def _direct_difference(y, tau_max):
    """d'(tau) of ``y`` with r(tau) summed directly (see :func:`cmndf`)."""
    return _normalized_difference(y, _autocorrelation(y, tau_max), tau_max)


def cmndf(y, tau_max):
    """YIN's cumulative mean normalized difference d'(tau), tau = 0..tau_max.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float64]
        Segment; needs ``n > tau_max``. The integration window is ``n - tau_max`` samples.
    tau_max : int > 0
        Largest lag [samples].
    """
    n = len(y)
    w = n - tau_max
    if w * tau_max <= DIRECT_MAX:  # short looks: the sums themselves beat two FFTs
        return _direct_difference(y, tau_max)
    n_fft = _fft_length(n)  # lags up to tau_max never wrap around
    both = np.zeros((2, n_fft))  # one FFT call for the segment and its head
    both[0, :n] = y
    both[1, :w] = y[:w]
    spec, head = scipy.fft.rfft(both, axis=1)
    r = scipy.fft.irfft(head.conj() * spec, n_fft)[: tau_max + 1]
    return _normalized_difference(y, r, tau_max)


@njit  # compiled into _best_lag
def _dip_near(d, lag, lo_limit, hi_limit):
    """Lag of the deepest local dip of ``d`` within 2 samples or 2% of ``lag``, or -1 (a
    string's stiffness moves the dips of its period's multiples apart by a few samples)."""
    reach = max(2, int(0.02 * lag))
    lo, hi = max(lo_limit, int(lag) - reach), min(hi_limit, int(lag) + reach + 1)
    if hi - lo < 3:
        return -1
    k = lo + np.argmin(d[lo:hi])
    return k if lo < k < hi - 1 else -1


@njit  # compiled into _best_lag
def _parabola(d, lag):
    """(offset [lags], d') of the bottom of the dip at integer ``lag``, from the parabola
    through its neighbours: a short period's dip falls between lags, where d' at the nearest
    lag is several times higher."""
    a, b, c = d[lag - 1], d[lag], d[lag + 1]
    denom = a - 2 * b + c
    if denom <= 0:
        return 0.0, b
    shift = 0.5 * (a - c) / denom
    return shift, max(0.0, b - 0.25 * (a - c) * shift)


@njit  # compiled into _best_lag
def _past_side_dip(d, tau, reach):
    """The period's own dip when YIN's first dip ``tau`` is a side dip before it: a strong
    n-th partial makes dips at (n-1)/n of the period (an electric piano's tine, n ~ 16:
    d' 0.11 six percent before the period's 0.001). Moves to the deepest local dip within
    ``reach`` times ``tau`` if it is four times deeper."""
    best = -1
    for k in range(tau + 1, min(int(reach * tau), len(d) - 3) + 1):
        if d[k] <= d[k - 1] and d[k] <= d[k + 1] and (best < 0 or d[k] < d[best]):
            best = k
    return best if best >= 0 and d[best] < 0.25 * d[tau] else tau


@njit  # compiled into _best_lag
def _guard_octaves(d, tau, tau_min, tau_max):
    """YIN's chosen lag, moved to tau/2 or tau/3 when the dip there is at most about twice as
    shallow (the first dip came a period too late: a plucked attack can be more periodic at
    twice its period for 60 ms); else, when the chosen dip is only fairly periodic
    (d' >= 0.1), to 2*tau or 3*tau where a dip is four times deeper (a strong second or
    third partial made the dip at a fraction of the period: harmonica and charang samples),
    or, when it is only nearly periodic (d' >= 0.02), to 2*tau where a dip is twenty times
    deeper (a weak fundamental under a strong second partial: an oboe's second octave).
    Depths are taken between lags (:func:`_parabola`)."""
    for k in (2, 3):
        sub = _dip_near(d, tau / k, tau_min, tau_max)
        if sub >= 0 and d[sub] < min(0.5, 2.0 * d[tau] + 0.05):
            return sub
    depth = _parabola(d, tau)[1]
    if depth >= 0.02:
        deeper, k_max = (0.25, 3) if depth >= 0.1 else (0.05, 2)
        for k in range(2, k_max + 1):
            multiple = _dip_near(d, float(tau * k), tau_min, tau_max)
            if multiple >= 0 and _parabola(d, multiple)[1] < deeper * depth:
                return multiple
    return tau


@njit("Tuple((int64, float64))(float64[::1], int64, int64, float64, float64)", cache=True)
def _best_lag(d, tau_min, tau_max, threshold, margin):
    """(YIN's lag in ``d`` between ``tau_min`` and ``tau_max``, the offset [lags] of its
    dip's bottom) (see :func:`yin`), or (-1, 0) when ``d`` has no local dip there."""
    first, lowest = -1, np.inf
    for k in range(tau_min + 1, tau_max - 1):
        if d[k] <= d[k - 1] and d[k] <= d[k + 1]:
            first = k if first < 0 else first
            lowest = min(lowest, d[k])
    if first < 0:
        return -1, 0.0
    # the first dip below the threshold, or, when none is, the first dip nearly as deep as
    # the deepest (a noisy attack must not pull the choice to a multiple of the period)
    limit = max(threshold, lowest + margin)
    tau = first
    for k in range(first, tau_max - 1):
        if d[k] <= d[k - 1] and d[k] <= d[k + 1] and d[k] < limit:
            tau = k
            break
    tau = _guard_octaves(d, _past_side_dip(d, tau, 1.34), tau_min, tau_max)
    return tau, _parabola(d, tau)[0]


def yin(y, sr, fmin, fmax, threshold=0.15, margin=0.1):
    """Fundamental frequency of a segment.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Segment [samples]; periods up to ``n // 2`` samples can be found.
    sr : int > 0 [Hz]
    fmin, fmax : float > 0 [Hz]
        Search range; ``fmin`` is raised to what the segment length allows.
    threshold : float in (0, 1)
        Dips of d' below it count as periodic (YIN's absolute threshold).
    margin : float >= 0
        Without a dip below ``threshold``, the first dip within ``margin`` of the deepest.

    Returns
    -------
    f0_hz : float
        Estimated fundamental [Hz], or nan if the segment is too short.
    aperiodicity : float in [0, 1+]
        d' at the chosen lag: near 0 for a clean periodic sound.
    """
    n = len(y)
    tau_min = max(2, int(sr / fmax))
    tau_max = min(math.ceil(sr / fmin) + 1, n // 2)
    if tau_max <= tau_min + 2:
        return math.nan, 1.0
    y = np.array(y, dtype=np.float64)  # (the kernels take double precision)
    # the mean: d' ignores a DC offset, but its FFT form would lose precision to it
    if _remove_mean(y) < n * 1e-10:  # below -100 dBFS: rounding noise, not a pitch
        return math.nan, 1.0
    d = cmndf(y, tau_max)
    tau, shift = _best_lag(d, tau_min, tau_max, threshold, margin)
    if tau < 0:
        return math.nan, 1.0
    return sr / (tau + shift), float(d[tau])


def cancel(y, period):
    """``y`` with a tone of ``period`` [samples, fractional] cancelled: y[t] - y[t - period]
    (de Cheveigné's harmonic cancellation filter; between lags by linear interpolation).
    Whatever else sounds keeps its period. ``int(period) + 1`` samples shorter."""
    lag = int(period)
    frac = period - lag
    if len(y) <= lag + 1:
        return y[:0]
    return y[lag + 1:] - (1.0 - frac) * y[1:len(y) - lag] - frac * y[:len(y) - lag - 1]


def _peak_near(mag, hz_per_bin, f0_hz, cents):
    """(frequency [Hz], log magnitude) of the strongest spectral peak within ``cents`` of
    ``f0_hz``, between bins; None when the strongest bin is at the search's edge."""
    ratio = 2.0 ** (cents / 1200.0)
    lo, hi = int(f0_hz / ratio / hz_per_bin), int(np.ceil(f0_hz * ratio / hz_per_bin)) + 1
    if lo < 1 or hi >= len(mag) - 1:
        return None
    k = lo + int(np.argmax(mag[lo:hi]))
    if k in (lo, hi - 1):
        return None
    a, b, c = mag[k - 1], mag[k], mag[k + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + shift) * hz_per_bin, b


_LOG_PER_DB = np.log(10.0) / 20.0  # natural-log magnitude per dB


def _log_spectrum(y, sr):
    """(natural-log magnitude of the Hann-windowed segment, 4x zero-padded; Hz per bin)."""
    n = len(y)
    n_fft = scipy.fft.next_fast_len(4 * n, real=True)
    return np.log(np.abs(scipy.fft.rfft(y * np.hanning(n), n_fft)) + 1e-12), sr / n_fft


def fundamental_db(y, sr, f0_hz, cents=70.0):
    """Level of the strongest spectral bin within ``cents`` of ``f0_hz`` [Hz] in segment
    ``y``, relative to the segment's strongest bin [dB, <= 0]."""
    mag, hz_per_bin = _log_spectrum(y, sr)
    ratio = 2.0 ** (cents / 1200.0)
    lo = max(1, int(f0_hz / ratio / hz_per_bin))
    hi = min(len(mag), int(np.ceil(f0_hz * ratio / hz_per_bin)) + 1)
    if hi <= lo:
        return -np.inf
    return float((mag[lo:hi].max() - mag.max()) / _LOG_PER_DB)


def _comb_f0(mag, hz_per_bin, f0_hz, span_cents=250.0, n_harmonics=8, floor_db=60.0,
             found_db=40.0, min_found=4, min_move_cents=50.0):
    """The fundamental [Hz] whose harmonics 2..``n_harmonics`` line up best with the peaks of
    log spectrum ``mag`` within ``span_cents`` of ``f0_hz`` (a harmonic sieve, on a 5-cent
    grid, the fundamental's own bin left out), as the mean of those peaks over their numbers.
    None when the best is within ``min_move_cents`` of ``f0_hz`` or fewer than ``min_found``
    of its harmonics stand within ``found_db`` [dB] of the strongest bin."""
    top = mag.max()
    floor = top - floor_db * _LOG_PER_DB
    level = np.maximum(maximum_filter1d(mag, 3), floor) - floor
    cents = np.arange(-span_cents, span_cents + 1.0, 5.0)
    harmonics = np.arange(2, n_harmonics + 1)
    bins = np.round(np.outer(f0_hz * 2.0 ** (cents / 1200.0), harmonics) / hz_per_bin).astype(int)
    score = np.where(bins < len(mag), level[np.minimum(bins, len(mag) - 1)], 0.0).sum(axis=1)
    best = int(score.argmax())
    if abs(cents[best]) < min_move_cents:
        return None
    comb_hz = f0_hz * 2.0 ** (cents[best] / 1200.0)
    peaks = [(h, _peak_near(mag, hz_per_bin, h * comb_hz, 25.0)) for h in harmonics]
    found = [(h, p[0]) for h, p in peaks if p is not None and p[1] >= top - found_db * _LOG_PER_DB]
    if len(found) < min_found:
        return None
    return sum(hz for _, hz in found) / sum(h for h, _ in found)


def refine_f0(y, sr, f0_hz, search_cents=70.0, max_move_cents=30.0, wide_cents=150.0,
              wide_periods=12, wide_db=15.0, comb_fmax=100.0, comb_periods=2.5):
    """The fundamental's own frequency near a YIN estimate [Hz], from a spectral peak.

    YIN's period weighs all partials, so stretched (inharmonic) partials, as a piano's,
    pull it sharp; the peak of the fundamental itself does not. The peak within
    ``search_cents`` is taken if it is at most ``max_move_cents`` away (on short segments a
    partial's or the attack's leakage moves the peak half a semitone: a wrong note, where
    stretching is worth cents). Partials far from harmonic (a celesta's at 2.7 times the
    fundamental, a marimba's near 4 and 10 times) can pull YIN's period a semitone or more
    off: with ``wide_periods`` periods in the segment (a resolved peak), the strongest peak
    within ``wide_cents`` but beyond ``search_cents`` is taken when it is at most ``wide_db``
    [dB] below the whole spectrum's strongest (a glockenspiel's partials at 5.3 and 8.6 times
    the fundamental stay louder than it for 100 ms: its 80 lies 12 dB under them at 120
    ms). Below ``comb_fmax`` [Hz], with ``comb_periods`` periods in the segment, when
    neither peak is taken: an acoustic bass's body resonance (33-45 Hz) can outweigh its
    fundamental and pull YIN's period one or two semitones off while its harmonics still
    line up on the true one, so the fundamental of the harmonics that line up best
    (:func:`_comb_f0`) is taken where it is 50 cents or more away. Otherwise (a weak
    fundamental, a short segment) ``f0_hz`` stands.
    """
    periods = len(y) * f0_hz / sr
    use_comb = f0_hz < comb_fmax and periods >= comb_periods
    if periods < 4.0 and not use_comb:
        return f0_hz
    mag, hz_per_bin = _log_spectrum(y, sr)
    top = mag.max()
    near = _peak_near(mag, hz_per_bin, f0_hz, search_cents) if periods >= 4.0 else None
    if near is not None and near[1] >= top - np.log(30.0):  # not 30x too weak
        if abs(1200.0 * np.log2(near[0] / f0_hz)) <= max_move_cents:
            return near[0]
    wide = _peak_near(mag, hz_per_bin, f0_hz, wide_cents) if periods >= wide_periods else None
    if wide is not None and wide[1] >= top - wide_db * _LOG_PER_DB:
        if abs(1200.0 * np.log2(wide[0] / f0_hz)) >= search_cents:
            return wide[0]
    comb = _comb_f0(mag, hz_per_bin, f0_hz) if use_comb else None
    return f0_hz if comb is None else comb
