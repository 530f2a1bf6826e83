"""The live MIDI sink on a recording port: channels, programs, pitch bend, no stuck notes."""

import threading

import mido
import pytest

from rtnote.engine import Engine
from rtnote.errors import ConfigError
from rtnote.events import FamilyUpdate, NoteOff, NoteOn
from rtnote.families import FAMILY_CHANNEL, REPRESENTATIVE_PROGRAM, UNKNOWN_CHANNEL
from rtnote.sinks.midiport import MidiOutSink, default_midi_api, midi_backend


class RecordingPort:
    def __init__(self, fail_after=None):
        self.sent = []
        self.closed = False
        self.fail_after = fail_after

    def send(self, msg):
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise OSError("port gone")
        self.sent.append(msg)

    def close(self):
        self.closed = True


def on(note_id, pitch, family=None, cents=0.0, velocity=90, replaces=None):
    return NoteOn(note_id, 1000 * note_id, 1000 * note_id + 500, 48000, pitch, cents, velocity,
                  family, 0.9 if family else None, replaces=replaces)


def off(note_id, pitch):
    return NoteOff(note_id, 1000 * note_id, 1000 * note_id + 900, 1000 * note_id + 1000, 48000,
                   pitch)


def notes(port):
    return [(m.type, m.channel, m.note) for m in port.sent if m.type in ("note_on", "note_off")]


def test_notes_on_one_channel_with_velocity_and_off():
    port = RecordingPort()
    sink = MidiOutSink(port)
    sink.handle(on(1, 60, velocity=77))
    sink.handle(off(1, 60))
    sink.close(drain_s=0)
    assert notes(port) == [("note_on", 0, 60), ("note_off", 0, 60)]
    assert port.sent[0].velocity == 77
    assert port.sent[-1].is_cc(123) and port.closed


def test_channel_per_family_programs_and_routing():
    port = RecordingPort()
    sink = MidiOutSink(port, channel_per_family=True)
    programs = {m.channel: m.program for m in port.sent if m.type == "program_change"}
    assert programs == {FAMILY_CHANNEL[f]: p for f, p in REPRESENTATIVE_PROGRAM.items()}
    assert 9 not in programs  # the drum channel is skipped
    sink.handle(on(1, 40, "bass"))
    sink.handle(FamilyUpdate(1, 1000, 2000, 48000, "guitar", 0.8))  # the note stays put
    sink.handle(off(1, 40))
    sink.handle(on(2, 76, "flute"))
    sink.handle(off(2, 76))
    sink.handle(on(3, 70, None))
    sink.close(drain_s=0)
    bass, flute = FAMILY_CHANNEL["bass"], FAMILY_CHANNEL["flute"]
    assert notes(port) == [("note_on", bass, 40), ("note_off", bass, 40),
                           ("note_on", flute, 76), ("note_off", flute, 76),
                           ("note_on", UNKNOWN_CHANNEL, 70), ("note_off", UNKNOWN_CHANNEL, 70)]
    all_off = {m.channel for m in port.sent if m.is_cc(123)}
    assert {bass, flute, UNKNOWN_CHANNEL} <= all_off


def test_pitch_bend_carries_cents_and_resets_at_note_off():
    port = RecordingPort()
    sink = MidiOutSink(port, pitch_bend=True, bend_range=2)
    rpn = [(m.control, m.value) for m in port.sent if m.type == "control_change"]
    assert rpn[:4] == [(101, 0), (100, 0), (6, 2), (38, 0)]
    port.sent.clear()
    sink.handle(on(1, 60, cents=50.0))
    sink.handle(off(1, 60))
    sink.close(drain_s=0)
    sent = [m for m in port.sent if m.type != "control_change"]  # RPN again before a note
    assert [m.type for m in sent][-4:] == ["pitchwheel", "note_on", "note_off", "pitchwheel"]
    assert sent[-4].pitch == 2048  # a quarter of the +-2 semitone range
    assert sent[-1].pitch == 0
    assert sink.bend_value(-1000) == -8192 and sink.bend_value(1000) == 8191


def test_close_ends_sounding_notes_once():
    port = RecordingPort()
    sink = MidiOutSink(port)
    sink.handle(on(1, 64))
    sink.close(drain_s=0)
    sink.close(drain_s=0)
    sink.handle(on(2, 65))  # after close: ignored
    assert notes(port) == [("note_on", 0, 64), ("note_off", 0, 64)]
    assert sum(m.is_cc(123) for m in port.sent) == 1


def test_a_correction_ends_the_replaced_note():
    port = RecordingPort()
    sink = MidiOutSink(port)
    sink.handle(on(1, 60))
    sink.handle(on(2, 72, replaces=1))
    sink.handle(off(2, 72))
    sink.close(drain_s=0)
    assert notes(port) == [("note_on", 0, 60), ("note_off", 0, 60), ("note_on", 0, 72),
                           ("note_off", 0, 72)]


def test_a_failing_port_is_reported_and_closed():
    port = RecordingPort()
    sink = MidiOutSink(port)
    sink.handle(on(1, 60))
    port.fail_after = len(port.sent)
    sink.close(drain_s=0)
    assert sink.error is not None and "port gone" in str(sink.error) and port.closed


def test_bend_range_and_api_are_checked():
    with pytest.raises(ConfigError, match="bend-range"):
        MidiOutSink(RecordingPort(), bend_range=30)
    with pytest.raises(ConfigError, match="--midi-api must be one of"):
        midi_backend("beos")
    assert default_midi_api() in ("alsa", "jack", "coremidi", "winmm")


class ExplodingSink:
    def handle(self, event):
        raise RuntimeError("display broke")

    def close(self):
        pass


class Source:
    """Two hops of audio then the end of the stream."""

    def __init__(self, sr):
        self.sr = sr
        self.finished = threading.Event()
        self.error = None

    def start(self, ring):
        import numpy as np

        t = np.arange(self.sr) / self.sr
        ring.write((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
        self.finished.set()

    def stop(self):
        pass


def test_a_failing_sink_does_not_leave_a_midi_note_on():
    """The engine hands every event to the MIDI sink even when another sink raises, and ends
    the sounding note; the error is reported."""
    from rtnote.analysis.analyzer import Analyzer

    port = RecordingPort()
    midi = MidiOutSink(port)
    engine = Engine(Analyzer(48000), [midi, ExplodingSink()])
    with pytest.raises(RuntimeError, match="display broke"):
        engine.run(Source(48000))
    midi.close(drain_s=0)
    sent = notes(port)
    assert sent and sent[0][0] == "note_on"
    assert sum(k == "note_on" for k, _, _ in sent) == sum(k == "note_off" for k, _, _ in sent)


def test_readme_documents_the_channel_table():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    rows = dict((m[0], (int(m[1]), int(m[2])))
                for m in re.findall(r"^\| (\w+) \| (\d+) \| (\d+) ", readme, flags=re.M))
    assert rows == {f: (FAMILY_CHANNEL[f] + 1, REPRESENTATIVE_PROGRAM[f] + 1)
                    for f in FAMILY_CHANNEL}
