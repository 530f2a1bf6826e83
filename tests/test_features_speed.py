"""The faster feature and classifier code gives the numbers of the straightforward code it
replaced (the shipped model was trained on those): per-window references kept here, compared
on tones, noise, silence and very short notes. No timings: equality only."""

import numpy as np
import pytest

from rtnote.learn import SR
from rtnote.learn import features as F

RTOL, ATOL = 1e-5, 1e-6  # float32 rounding


def _reference_harmonics(y, f0_hz, n_harmonics):
    """The former per-window, per-harmonic loop of _harmonics."""
    n = len(y)
    if n < 64:
        y = np.pad(y, (0, 64 - n))
        n = 64
    n_fft = max(8192, 1 << int(np.ceil(np.log2(n))))
    power = F._power(y, n_fft)
    bin_hz = SR / n_fft
    k = np.arange(1, n_harmonics + 1)
    centre = k * f0_hz / bin_hz
    half = max(1.0, 0.25 * f0_hz / bin_hz)
    levels = np.full(n_harmonics, F.FLOOR_DB)
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
    total = power[max(1, int(0.5 * f0_hz / bin_hz)):max(top, 2)].sum() + F.EPS
    heard = levels > F.FLOOR_DB
    peak = levels[heard].max() if heard.any() else 0.0
    levels = np.where(heard, np.maximum(levels - peak, F.FLOOR_DB), F.FLOOR_DB)
    lin = 10 ** (levels / 10) * heard
    odd, even = lin[2::2].sum() + 1e-8, lin[1::2].sum() + 1e-8
    centroid = (k * lin).sum() / (lin.sum() + 1e-8)
    strong = heard & (levels > -40)
    inharm = np.nanmean(np.abs(freqs[strong] / (k[strong] * f0_hz) - 1)) if strong.any() else 0.0
    extras = [10 * np.log10(harmonic_energy / total + F.EPS), 10 * np.log10(odd / even),
              centroid, np.log10(inharm + 1e-4)]
    return levels, np.array(extras)


def _reference_relative_spectrum(y, f0_hz):
    """The former one-window _relative_spectrum."""
    if len(y) < 64:
        y = np.pad(y, (0, 64 - len(y)))
    power = F._power(y, 4096)
    edges = f0_hz * 2.0 ** ((np.append(F.RELATIVE_STEPS, F.RELATIVE_STEPS[-1] + 1) - 0.5) / 12.0)
    idx = np.clip(np.round(edges / (SR / 4096)).astype(int), 1, len(power) - 1)
    out = 10 * np.log10(np.maximum.reduceat(power, idx[:-1]))
    out[(edges[1:] > 7800.0) | (idx[:-1] >= idx[1:])] = F.FLOOR_DB
    heard = out > F.FLOOR_DB
    if heard.any():
        out[heard] = np.maximum(out[heard] - out[heard].max(), F.FLOOR_DB)
    return out


def _signals():
    """(name, 16 kHz float32 signal, f0 [Hz]): harmonic tones low to high, noise, silence."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.6 * SR)) / SR
    out = []
    for f0 in (20.0, 55.0, 261.6, 1000.0, 3100.0, 6000.0):
        partials = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 13) if f0 * h < SR / 2)
        decay = np.exp(-3 * t) * np.minimum(1, t / 0.01)
        y = partials * decay + 1e-4 * rng.standard_normal(len(t))
        out.append((f"tone{f0:g}", y.astype(np.float32), f0))
    out.append(("noise", (0.1 * rng.standard_normal(len(t))).astype(np.float32), 330.0))
    out.append(("silence", np.zeros(len(t), np.float32), 440.0))
    return out


SIGNALS = _signals()
LENGTHS = (1, 40, 64, 160, 800, 1600, 4800, 9000)


@pytest.mark.parametrize("name, y, f0", SIGNALS, ids=[s[0] for s in SIGNALS])
def test_harmonics_match_the_per_window_loop(name, y, f0):
    y = y / max(np.abs(y).max(), 1e-12)
    for n in LENGTHS:
        levels, extras = F._harmonics([y[:n]], f0, 12)
        ref_levels, ref_extras = _reference_harmonics(y[:n], f0, 12)
        np.testing.assert_allclose(levels[0], ref_levels, rtol=RTOL, atol=ATOL, err_msg=f"{name} n={n}")
        np.testing.assert_allclose(extras[0], ref_extras, rtol=RTOL, atol=ATOL, err_msg=f"{name} n={n}")
    # two windows at once, of one FFT size (1600 and 4800 samples) and of two (1600 and 9000)
    for rest in (4800, 9000):
        levels, extras = F._harmonics([y[:1600], y[1600:1600 + rest]], f0, 12)
        for row, seg in enumerate((y[:1600], y[1600:1600 + rest])):
            ref_levels, ref_extras = _reference_harmonics(seg, f0, 12)
            np.testing.assert_allclose(levels[row], ref_levels, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(extras[row], ref_extras, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name, y, f0", SIGNALS, ids=[s[0] for s in SIGNALS])
def test_relative_spectra_match_one_window_at_a_time(name, y, f0):
    y = y / max(np.abs(y).max(), 1e-12)
    for windows in ([(0, 1)], [(0, 40)], [(0, 800)], [(0, 800), (800, 1600)],
                    [(0, 800), (800, 1600), (1600, 4000), (4000, 6400)], [(0, 800), (800, 900)]):
        segments = [y[a:b] for a, b in windows]
        spectra = F._relative_spectra(segments, f0)
        assert spectra.shape == (len(segments), len(F.RELATIVE_STEPS))
        for row, seg in zip(spectra, segments):
            np.testing.assert_allclose(row, _reference_relative_spectrum(seg, f0), rtol=RTOL, atol=ATOL)


def test_small_helpers_match_numpy():
    rng = np.random.default_rng(1)
    for shape in ((1, 40), (7, 40), (37, 40), (50, 8, 5)):
        x = (30 * rng.standard_normal(shape)).astype(np.float32)
        for axis in (None, 0, -1):
            assert np.array_equal(F._mean(x, axis=axis), x.mean(axis=axis))
        assert np.array_equal(F._mean(x, axis=-1, keepdims=True), x.mean(axis=-1, keepdims=True))
        mean = F._mean(x, axis=0)
        assert np.array_equal(np.sqrt(F._mean((x - mean) ** 2, axis=0)), x.std(axis=0))
    for n in (1, 100, 511, 512, 513, 672, 6400):
        y = rng.standard_normal(n).astype(np.float32)
        padded = np.pad(y, (0, max(0, 512 - n)))
        assert np.array_equal(F._pad_to(y, 512), padded)
        n_frames = 1 + (len(padded) - 512) // 160
        expected = np.lib.stride_tricks.sliding_window_view(padded, 512)[::160][:n_frames]
        assert np.array_equal(F._frames(y), expected)
        t = np.arange(n) * 160 / SR
        values = rng.standard_normal((3, n))
        if n >= 2:
            tc = t - t.mean()
            expected = (values - values.mean(axis=-1, keepdims=True)) @ tc / (tc @ tc)
            assert np.array_equal(F._slope(values, 160), expected)
    for sr in (8000, 16000, 22050, 44100, 48000, 96000):
        for n in (1, 2, 3, 440, 4799, 4800, 4801, 19200):
            assert F.resampled_length(n, sr) == len(F.resample(np.zeros(n, np.float32), sr))


@pytest.fixture(scope="module")
def classifier():
    from rtnote.classifier import load_model

    return load_model()


def _fresh(clf, y, sr, f0_hz):
    """The class probabilities straight from the model's members (no memo, no fast path),
    combined as test_a_model_with_the_network_round_trips checks."""
    from test_family_model import member_proba_of

    from rtnote.classifier import vote

    y16 = F.resample(y, sr)
    look = clf.look_for(len(y16) / SR)
    rows = [member_proba_of(clf.pipelines[member], y16, f0_hz) for member in clf.combine[look]]
    return vote(rows, clf._prior, list(clf.combine[look].values()))


def test_classifier_matches_its_pipelines_and_memo_needs_identical_audio(classifier):
    rng = np.random.default_rng(2)
    for sr in (44100, 48000):
        y = (0.1 * rng.standard_normal(int(0.42 * sr))).astype(np.float32)
        for heard_s in (0.01, 0.05, 0.1, 0.4):
            x = y[:int(heard_s * sr)]
            classifier._memo.clear()
            fast = classifier.predict_proba(x, sr, 262.0)
            np.testing.assert_allclose(fast, _fresh(classifier, x, sr, 262.0), atol=1e-5)
        # the 100-ms answer is remembered, then reused only for the very same samples
        classifier._memo.clear()
        decision = classifier.predict_proba(y[:int(0.1 * sr)], sr, 262.0)
        assert np.array_equal(classifier.predict_proba(y[:int(0.1 * sr) + 128], sr, 262.0), decision)
        changed = y.copy()
        changed[1] += 0.01  # not one of the samples in the memo key
        again = classifier.predict_proba(changed[:int(0.1 * sr)], sr, 262.0)
        assert not np.array_equal(again, decision)
        np.testing.assert_allclose(again, _fresh(classifier, changed[:int(0.1 * sr)], sr, 262.0), atol=1e-5)
