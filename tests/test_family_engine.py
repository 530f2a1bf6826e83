"""The family classifier inside the engine: note_on fields, family_update events, MIDI tracks."""

import subprocess
import sys

import mido
import numpy as np
import pytest

from rtnote.analysis.analyzer import Analyzer
from rtnote.events import FamilyUpdate, NoteOn
from rtnote.families import FAMILIES, FAMILY_CHANNEL
from rtnote.transcribe import transcribe_file


class MindChanger:
    """A stand-in classifier: 'guitar' on short looks, 'string' once it hears 0.3 s or more."""

    def __init__(self):
        self.calls = []

    def predict(self, y, sr, f0_hz):
        self.calls.append((len(y) / sr, f0_hz))
        return ("string", 0.9) if len(y) >= 0.3 * sr else ("guitar", 0.6)


@pytest.fixture(scope="module")
def shipped():
    from rtnote.classifier import load_model

    return load_model()


def test_note_on_carries_family_and_updates_follow(melody):
    y, sr, notes = melody
    clf = MindChanger()
    analyzer = Analyzer(sr, family_classifier=clf)
    events = analyzer.process(y) + analyzer.finish()
    ons = [e for e in events if isinstance(e, NoteOn)]
    ups = [e for e in events if isinstance(e, FamilyUpdate)]
    assert len(ons) >= 20
    assert all(e.family == "guitar" and e.family_conf == pytest.approx(0.6) for e in ons)
    # notes that sound long enough get a later look that changes the family
    assert ups and all(u.family == "string" for u in ups)
    ids = {e.note_id: e for e in ons}
    for u in ups:
        assert u.note_id in ids and u.decision_sample >= ids[u.note_id].onset_sample + int(0.39 * sr)
    # the first look sees only what was heard at the decision; pitch is handed over in Hz
    assert min(d for d, _ in clf.calls) < 0.1 and all(f > 100 for _, f in clf.calls)


def test_midi_file_puts_each_family_on_its_track(melody_wav, tmp_path):
    path, _ = melody_wav
    out = tmp_path / "m.mid"
    result = transcribe_file(path, midi_path=out, family_classifier=MindChanger())
    ons = {e.note_id: e for e in result.events if isinstance(e, NoteOn)}
    final = {i: e.family for i, e in ons.items()}
    for e in result.events:
        if isinstance(e, FamilyUpdate):
            final[e.note_id] = e.family
    mid = mido.MidiFile(out)
    by_track = {}
    for track in mid.tracks[1:]:
        name = next(m.name for m in track if m.type == "track_name")
        channels = {m.channel for m in track if m.type == "note_on"}
        by_track[name] = (channels, sum(1 for m in track if m.type == "note_on" and m.velocity > 0))
    for family in set(final.values()):
        channels, count = by_track[family]
        assert channels == {FAMILY_CHANNEL[family]}
        assert count == sum(1 for f in final.values() if f == family)


@pytest.fixture(scope="module")
def violin(renderer_factory):
    """A 16-note violin melody (FluidR3_GM, 44.1 kHz) from a fresh synth: (audio, sr)."""
    from rtnote.synth import Renderer, random_melody

    renderer_factory("FluidR3_GM")  # skips (or fails in CI) without FluidSynth
    notes = random_melody(np.random.default_rng(3), 55, 84, 16, tempo_bpm=100)
    renderer = Renderer("FluidR3_GM")
    y = renderer.render(40, notes)
    renderer.close()
    return (0.5 * y / np.abs(y).max()).astype(np.float32), 44100


def test_shipped_model_in_the_engine(violin, shipped):
    y, sr = violin
    analyzer = Analyzer(sr, family_classifier=shipped)
    events = analyzer.process(y) + analyzer.finish()
    ons = [e for e in events if isinstance(e, NoteOn)]
    assert len(ons) >= 12
    for e in ons:
        assert e.family in FAMILIES and 0.0 < e.family_conf <= 1.0
    for e in events:
        if isinstance(e, FamilyUpdate):
            assert e.family in FAMILIES and e.note_id in {o.note_id for o in ons}
    # a violin from a training bank: most notes end as strings (held-out figures: model card)
    final = {e.note_id: e.family for e in ons}
    final.update({e.note_id: e.family for e in events if isinstance(e, FamilyUpdate)})
    assert np.mean([f == "string" for f in final.values()]) >= 0.6


class Recorder:
    """The shipped model, noting how much of the note each look heard [seconds]."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.later_looks_s = classifier.later_looks_s
        self.heard_s = []

    def predict(self, y, sr, f0_hz):
        self.heard_s.append(len(y) / sr)
        return self.classifier.predict(y, sr, f0_hz)


def test_a_held_note_is_looked_at_the_models_later_looks(renderer_factory, shipped):
    """A held note is classified at the note_on and again at each of the model's later looks,
    each on the audio from the onset up to the look (the history keeps the longest look)."""
    from rtnote.synth import Note

    renderer = renderer_factory("FluidR3_GM", fresh=True)
    y = renderer.render(0, [Note(60, 0.2, 1.8, 100)])
    renderer.close()
    recorder = Recorder(shipped)
    analyzer = Analyzer(44100, family_classifier=recorder)
    events = analyzer.process(y) + analyzer.finish()
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [60]
    assert shipped.later_looks_s[-1] >= 1.0
    first, *later = recorder.heard_s
    assert first < 0.07
    assert later == pytest.approx(list(shipped.later_looks_s), abs=0.01)


def test_transcribe_command_loads_the_shipped_model(melody_wav, tmp_path):
    import json

    out = tmp_path / "ev.jsonl"
    proc = subprocess.run([sys.executable, "-m", "rtnote", "transcribe", str(melody_wav[0]),
                           "--events", str(out)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    ons = [json.loads(line) for line in out.read_text().splitlines()]
    ons = [e for e in ons if e["type"] == "note_on"]
    assert ons and all(e["family"] in FAMILIES and 0 < e["family_conf"] <= 1 for e in ons)
    proc = subprocess.run([sys.executable, "-m", "rtnote", "transcribe", str(melody_wav[0]),
                           "--events", str(out), "--model", "none"], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert all(json.loads(line).get("family") is None for line in out.read_text().splitlines()
               if json.loads(line)["type"] == "note_on")


def test_looks_in_their_own_process_give_the_same_events(melody, shipped):
    """Live runs send every look (the note_on's, 0.1, 0.4 and 1 s) to a classifier process:
    the events are those of asking on the worker, whatever the block size, and the process
    ends on close. The pipe to it holds several of the longest looks at 48 kHz, so sending
    one never waits for a busy child (a late live hop)."""
    import fcntl

    from rtnote.classifier_process import ClassifierProcess

    y, sr, _ = melody
    here = Analyzer(sr, family_classifier=shipped)
    expected = here.process(y) + here.finish()
    process = ClassifierProcess(shipped)
    child = process._child
    longest_look = 4 * int(48000 * max(process.later_looks_s))  # float32 [bytes]
    assert fcntl.fcntl(child.stdin.fileno(), fcntl.F_GETPIPE_SZ) >= 4 * longest_look
    try:
        analyzer = Analyzer(sr, family_classifier=process)
        events = []
        for i in range(0, len(y), 256):
            events += analyzer.process(y[i:i + 256])
        events += analyzer.finish()
    finally:
        process.close()
    assert sum(isinstance(e, FamilyUpdate) for e in expected) >= 3
    assert events == expected
    assert child.returncode == 0


def test_a_killed_classifier_process_costs_no_event(melody, shipped, capsys):
    """The classifier process dies: the live run goes on with the looks made in its own
    process (the same events as with the process), and says so in one line at the end."""
    from rtnote.bench.faults import MemorySource
    from rtnote.classifier_process import ClassifierProcess
    from rtnote.engine import Engine
    from rtnote.live import LiveRun
    from rtnote.sinks import EventList

    y, sr, _ = melody
    here = Analyzer(sr, family_classifier=shipped)
    expected = here.process(y) + here.finish()
    process = ClassifierProcess(shipped)
    process._child.kill()
    got = EventList()
    engine = Engine(Analyzer(sr, family_classifier=process), [got])
    code = LiveRun(engine, MemorySource([y], sr, blocksize=256), view="none").run()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0
    assert got.events == expected
    assert err[-1] == ("rtnote: warning: the family classifier process ended unexpectedly; "
                       "its looks were made in rtnote's own process from then on")
