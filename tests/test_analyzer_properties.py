"""Property-based tests of the analyzer: any float32 input gives valid, paired events."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rtnote.analysis.analyzer import Analyzer
from rtnote.events import NoteOff, NoteOn

SR = 16000  # small sizes keep each example fast; the code path is the same at any rate


def check_events(events, n_samples, sr):
    ons, offs = {}, {}
    for e in events:
        assert e.sr == sr
        assert 0 <= e.onset_sample <= e.decision_sample <= n_samples  # never in the future
        if isinstance(e, NoteOn):
            assert 0 <= e.pitch <= 127 and 1 <= e.velocity <= 127 and -50 <= e.cents <= 50
            assert e.note_id not in ons
            ons[e.note_id] = e
        elif isinstance(e, NoteOff):
            assert e.note_id in ons and e.note_id not in offs
            assert e.onset_sample <= e.offset_sample <= e.decision_sample
            offs[e.note_id] = e
    assert ons.keys() == offs.keys()  # every note_on got its note_off


def run(y, blocks):
    analyzer = Analyzer(SR)
    events = []
    for chunk in np.array_split(y, blocks):
        events += analyzer.process(chunk)
    return events + analyzer.finish()


floats = st.floats(width=32, allow_nan=True, allow_infinity=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float32, st.integers(0, 6000), elements=floats), st.integers(1, 7))
def test_any_float32_array(y, blocks):
    check_events(run(y, blocks), len(y), SR)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["square", "denormal", "noise_1e-9", "nan_bursts", "dc_steps"]),
       st.floats(40.0, 4000.0), st.integers(0, 2**31 - 1))
def test_hostile_signals(kind, f0, seed):
    rng = np.random.default_rng(seed)
    n = SR
    t = np.arange(n) / SR
    if kind == "square":
        y = np.sign(np.sin(2 * np.pi * f0 * t))  # full scale
    elif kind == "denormal":
        y = rng.standard_normal(n) * 1e-39
    elif kind == "noise_1e-9":
        y = rng.standard_normal(n) * 1e-9
    elif kind == "nan_bursts":
        y = 0.5 * np.sin(2 * np.pi * f0 * t)
        for start in rng.integers(0, n - 100, 5):
            y[start:start + int(rng.integers(1, 100))] = rng.choice([np.nan, np.inf, -np.inf])
    else:
        y = np.repeat(rng.uniform(-1, 1, 8), n // 8)
    y = y.astype(np.float32)
    events = run(y, int(rng.integers(1, 9)))
    check_events(events, n, SR)
    if kind in ("denormal", "noise_1e-9", "dc_steps"):
        assert not [e for e in events if isinstance(e, NoteOn)]


def test_note_at_the_very_start_and_after_a_gap():
    """Onsets are never placed before the stream or inside lost audio."""
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    analyzer = Analyzer(SR)
    events = analyzer.process(tone)  # a note from sample 0
    events += analyzer.skip(5000)  # 5000 samples lost mid-note
    events += analyzer.process(tone)
    events += analyzer.finish()
    ons = [e for e in events if isinstance(e, NoteOn)]
    assert ons and ons[0].onset_sample >= 0 and ons[0].pitch == 69
    after_gap = [e for e in ons if e.decision_sample > SR]
    assert after_gap and all(e.onset_sample >= SR + 5000 for e in after_gap)
    check_events(events, 2 * SR + 5000, SR)
