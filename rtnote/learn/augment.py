"""Timbre augmentation that keeps the family: what differs between two banks' trumpets
(recording chain, room, player) changes, what makes a trumpet a trumpet stays.

:func:`augment` draws every choice from the ``rng`` it is given, so a seed fixes the result.
It works on 16 kHz audio from the onset and returns the (possibly detuned) pitch with it.
"""

import numpy as np
from scipy.signal import fftconvolve

from rtnote.learn import SR


def _smooth_eq(n, rng):
    """A random smooth magnitude response [linear gain] on ``rfftfreq(n)``: tilt, a few
    bumps in log frequency, sometimes a low-pass and a high-pass."""
    freqs = np.fft.rfftfreq(n, 1.0 / SR)
    octaves = np.log2(np.maximum(freqs, 20.0) / 1000.0)
    gain_db = rng.uniform(-4.0, 3.0) * octaves  # tilt [dB/octave] around 1 kHz
    for _ in range(rng.integers(1, 5)):
        centre, width, height = rng.uniform(-4.5, 2.8), rng.uniform(0.2, 1.5), rng.uniform(-10, 10)
        gain_db += height * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
    gain = 10 ** (gain_db / 20)
    if rng.random() < 0.5:  # a darker bank or microphone
        cutoff = np.exp(rng.uniform(np.log(2000.0), np.log(7500.0)))
        gain /= np.sqrt(1 + (freqs / cutoff) ** (2 * rng.integers(2, 7)))
    if rng.random() < 0.3:
        cutoff = rng.uniform(40.0, 200.0)
        gain /= np.sqrt(1 + (cutoff / np.maximum(freqs, 1.0)) ** 4)
    return gain


def _reverb(y, rng):
    """Add a synthetic room: exponentially decaying noise, RT60 0.15-1.2 s."""
    rt60 = rng.uniform(0.15, 1.2)
    n = int(min(rt60, 0.8) * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[: int(0.005 * SR)] = 0.0  # pre-delay
    wet = fftconvolve(y, ir)[: len(y)]
    wet *= np.sqrt((y ** 2).sum() / ((wet ** 2).sum() + 1e-12)) * 10 ** (rng.uniform(-18, -4) / 20)
    return y + wet


def augment(y, f0_hz, rng, strength=1.0):
    """A family-preserving variant of a note.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float32]
        16 kHz audio from the onset (one clip or its first second).
    f0_hz : float > 0 [Hz]
    rng : np.random.Generator
    strength : float in [0, 1]
        Scales how likely each change is.

    Returns
    -------
    y : np.ndarray [float32], f0_hz : float [Hz]
        The variant, as long as the input, and its pitch.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    p = strength
    # detune and vibrato: one time warp
    ratio = 2 ** (rng.uniform(-40, 40) / 1200) if rng.random() < p else 1.0
    rate = np.full(n, ratio)
    if rng.random() < 0.4 * p:
        depth = rng.uniform(0.001, 0.006)  # ~2-10 cents
        rate *= 1 + depth * np.sin(2 * np.pi * rng.uniform(4, 7) * np.arange(n) / SR + rng.uniform(0, 6.3))
    if ratio != 1.0 or rate.std() > 0:
        pos = np.cumsum(rate) - rate[0]
        y = np.interp(pos, np.arange(n), y, right=0.0)
        f0_hz *= ratio
    # equalization (zero-phase, in the frequency domain; padded against wrap-around)
    if rng.random() < 0.9 * p:
        m = 1 << int(np.ceil(np.log2(n + 2048)))
        y = np.fft.irfft(np.fft.rfft(y, m) * _smooth_eq(m, rng), m)[:n]
    # envelope: softer attack, extra decay, tremolo
    t = np.arange(n) / SR
    if rng.random() < 0.25 * p:
        y *= np.minimum(1.0, t / rng.uniform(0.002, 0.02))
    if rng.random() < 0.2 * p:
        y *= np.exp(-t / rng.uniform(0.8, 4.0))
    if rng.random() < 0.15 * p:
        y *= 1 + rng.uniform(0.05, 0.25) * np.sin(2 * np.pi * rng.uniform(4, 8) * t)
    if rng.random() < 0.4 * p:
        y = _reverb(y, rng)
    # background noise, white or pink, 25-60 dB below the note
    if rng.random() < 0.5 * p:
        noise = rng.standard_normal(n)
        if rng.random() < 0.5:
            spec = np.fft.rfft(noise)
            spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
            noise = np.fft.irfft(spec, n)
        level = np.sqrt((y ** 2).mean() / ((noise ** 2).mean() + 1e-12)) * 10 ** (-rng.uniform(25, 60) / 20)
        y = y + level * noise
    # the pitch the engine hands over: a little off, rarely an octave off
    f0_hz *= 2 ** (rng.normal(0, 10) / 1200)
    u = rng.random()
    if u < 0.04:
        f0_hz *= 2.0
    elif u < 0.08:
        f0_hz *= 0.5
    y *= 10 ** (rng.uniform(-20, 0) / 20) / (np.abs(y).max() + 1e-9)
    return y.astype(np.float32), float(f0_hz)


def jitter_onset(y, rng, early_s=0.005, late_s=0.01):
    """Crop as the engine's onset estimate might: up to ``early_s`` before the real onset
    (silence first) or ``late_s`` after it [seconds]."""
    shift = int(rng.uniform(-early_s, late_s) * SR)
    if shift >= 0:
        return y[shift:]
    return np.concatenate((np.zeros(-shift, dtype=y.dtype), y))
