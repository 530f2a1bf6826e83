"""`rtnote bench --jack`: the end-to-end arithmetic on JACK's frame clock (hand-made frames,
no server), the rule that aligns rtnote's stream with JACK's frames, and real runs through a
JACK server (dummy driver): one the bench starts at -p 128, one on the test session's own
server (--server, -p 256). No timed assertions: only identities and causality.
"""

import json

import numpy as np
import pytest

from conftest import require
from rtnote.bench import workload
from rtnote.bench.endtoend import JackRun, align, analyze_run, midi_frames_for, sound_ends, sound_starts
from rtnote.bench.workload import RefNote
from rtnote.events import NoteOff, NoteOn

SR = 48000


def test_sounds_are_found_after_and_before_silence():
    """The rule that finds sounds in the played audio and in rtnote's recording of it."""
    noise = np.full(50, 0.01, dtype=np.float32)
    heard = np.concatenate([noise, np.zeros(80, np.float32), noise, np.zeros(150, np.float32),
                            np.zeros(30, np.float32), np.ones(5, np.float32)])
    # noise at 0-49, 80 zeros, noise at 130-179, 180 zeros, sound at 360-364
    assert list(sound_starts(heard, 100)) == [360]
    assert list(sound_ends(heard, 100)) == [179]  # the last sound has no silence after it yet
    heard = np.concatenate([heard, np.zeros(100, np.float32)])
    assert list(sound_ends(heard, 100)) == [179, 364]
    assert list(sound_starts(heard, 100, silent_before=True)) == [0, 360]


def test_end_to_end_arithmetic_on_hand_made_frames():
    """Player starts the audio at JACK frame A; its first non-zero sample i0 reached rtnote's
    stream at index k0. Each latency follows from those three numbers and the frames."""
    y = np.zeros(20000, np.float32)
    i0 = 1000
    y[i0:] = 0.1
    notes = [RefNote(1000, 5000, 60), RefNote(9000, 15000, 64)]
    w = workload.Workload("hand-made", y, SR, notes)
    A, k0, period = 100_000, 2_400, 256
    S = A + i0 - k0  # JACK frame of rtnote's stream sample 0
    # stream onsets: 1000 - 1000 + 2400 = 2400 and 10400; decisions 1000 and 1500 later
    events = [NoteOn(0, 2450, 3400, SR, 60, 0.0, 90), NoteOff(0, 2450, 6000, 6100, SR, 60),
              NoteOn(1, 10420, 11900, SR, 64, 0.0, 90), NoteOff(1, 10420, 16000, 16100, SR, 64)]
    midi = [(S + 3400 + 40, "on", 0, 60, 90), (S + 6200, "off", 0, 60, 0),
            (S + 11900 + 200, "on", 0, 64, 90)]
    run = JackRun(period, SR, "test", False, w)
    stats = {"dropped_cycles": 0, "overflows": 0, "deadline_misses": 0}
    # the sound ends at audio sample 19999, stream index 19999 - 1000 + 2400: nothing lost
    analyze_run(run, y, events, midi, A, [k0], stats, xruns=0, min_silence=500,
                stream_ends=[19999 - i0 + k0])
    rows = run.per_note
    assert all(r["split_exact"] for r in rows)
    assert [r["algorithmic_frames"] for r in rows] == [1000, 1500]
    assert [r["transport_frames"] for r in rows] == [40, 200]
    assert [r["end_to_end_frames"] for r in rows] == [1040, 1700]
    assert [r["onset_frame"] for r in rows] == [A + 1000, A + 9000]
    assert run.end_to_end.number("median") == pytest.approx(1370 / SR * 1e3)
    claim = run.claim()
    assert claim["holds"] and claim["bound_ms"] == pytest.approx((1250 + 256) / SR * 1e3)


def test_a_cycle_lost_between_two_sounds_is_measured_and_the_later_notes_realigned():
    """Two sounds after silence; rtnote's stream lost one 256-frame cycle between them, so
    the second began 256 samples earlier in its stream than the first predicts."""
    y = np.zeros(40000, np.float32)
    y[1000:5000] = 0.1
    y[20000:24000] = 0.1
    notes = [RefNote(1000, 5000, 60), RefNote(20000, 24000, 64)]
    w = workload.Workload("two sounds", y, SR, notes)
    A, k0, period = 50_000, 3000, 256
    starts = [k0, k0 + 19000 - 256]
    assert align([1000, 20000], starts, max_loss=SR // 2) == [(1000, 3000), (20000, 21744)]
    S1, S2 = A + 1000 - 3000, A + 20000 - 21744  # stream sample 0 in JACK frames, per sound
    events = [NoteOn(0, 3010, 3500, SR, 60, 0.0, 90), NoteOn(1, 21750, 22800, SR, 64, 0.0, 90)]
    midi = [(S1 + 3500 + 100, "on", 0, 60, 90), (S2 + 22800 + 50, "on", 0, 64, 90)]
    assert list(sound_ends(y, 1000, silent_after=True)) == [4999, 23999]
    ends = [3000 + 3999, 21744 + 3999]  # each sound as long in the stream as in the audio
    run = JackRun(period, SR, "test", False, w)
    analyze_run(run, y, events, midi, A, starts, {}, xruns=1, min_silence=1000, stream_ends=ends)
    assert run.alignment == {"anchors": 2, "audio_sounds_after_silence": 2,
                             "input_frames_lost": 256, "sounds_without_loss": 2}
    assert [r["algorithmic_frames"] for r in run.per_note] == [500, 1056]
    assert [r["transport_frames"] for r in run.per_note] == [100, 50]
    assert [r["end_to_end_frames"] for r in run.per_note] == [600, 1106]
    assert not run.health.clean and "1 server xruns" in run.end_to_end.text()
    assert run.algorithmic.n == 2 and run.claim()["notes"] == 2


def test_notes_of_a_sound_that_lost_frames_keep_their_end_to_end_but_not_the_split():
    """Same two sounds; this time a cycle was lost inside the second one (its end came 128
    samples early in the stream): its note still has an end-to-end figure, but neither an
    algorithmic nor a transport one, and the claim is made on the first note alone."""
    y = np.zeros(40000, np.float32)
    y[1000:5000] = 0.1
    y[20000:24000] = 0.1
    w = workload.Workload("two sounds", y, SR, [RefNote(1000, 5000, 60), RefNote(20000, 24000, 64)])
    A, k0 = 50_000, 3000
    starts, ends = [3000, 22000], [6999, 22000 + 3999 - 128]
    S = A + 1000 - 3000
    events = [NoteOn(0, 3010, 3500, SR, 60, 0.0, 90), NoteOn(1, 22010, 23000, SR, 64, 0.0, 90)]
    midi = [(S + 3600, "on", 0, 60, 90), (S + 23100, "on", 0, 64, 90)]
    run = JackRun(256, SR, "test", False, w)
    analyze_run(run, y, events, midi, A, starts, {"dropped_cycles": 1}, xruns=0,
                min_silence=1000, stream_ends=ends)
    assert [r["split_exact"] for r in run.per_note] == [True, False]
    assert run.alignment["sounds_without_loss"] == 1
    assert run.end_to_end.n == 2 and run.algorithmic.n == 1 and run.end_to_end_exact.n == 1
    assert run.per_note[1]["end_to_end_frames"] == S + 23100 - (A + 20000)
    assert run.claim()["notes"] == 1 and run.transport_frames.tolist() == [100]


def test_midi_messages_pair_with_note_ons_in_order_or_by_pitch_after_the_decision():
    ons = [NoteOn(0, 100, 500, SR, 60, 0.0, 90), NoteOn(1, 900, 1500, SR, 62, 0.0, 90)]
    assert midi_frames_for(ons, [(1000, 60), (2000, 62)], 0) == {0: 1000, 1: 2000}
    # one message lost: the other still finds its own, never one sent before its decision
    assert midi_frames_for(ons, [(400, 62), (2000, 62)], 0) == {1: 2000}


def jack_json(tmp_path, capsys, args):
    from rtnote.cli import main
    from test_bench import NO_MODEL

    clicks = workload.click_track([0.3, 0.8, 1.3, 1.8, 2.3], [57, 62, 69, 74, 81], sr=SR)
    audio, onsets = tmp_path / "c.wav", tmp_path / "c.csv"
    clicks.write(audio)
    onsets.write_text("".join(f"{n.onset_sample / SR!r},{n.pitch}\n" for n in clicks.notes))
    out = tmp_path / "jack.json"
    code = main(["bench", "--jack", "--audio", str(audio), "--onsets", str(onsets),
                 "--json", str(out), *NO_MODEL, *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(out.read_text())["runs"], captured.out


def check_run(run, period):
    assert run["period_frames"] == period and run["sr"] == SR and run["exit_code"] == 0
    health = run["health"]
    assert set(health) >= {"dropped_cycles", "server_xruns", "overflows", "deadline_misses", "clean"}
    drops = health["dropped_cycles"] + health["server_xruns"] + health["overflows"]
    timed = [r for r in run["per_note"] if "midi_frame" in r]
    assert len(timed) >= 4 - drops, run["per_note"]
    for r in timed:
        assert r["end_to_end_frames"] == r["algorithmic_frames"] + r["transport_frames"]
        assert r["end_to_end_frames"] == r["midi_frame"] - r["onset_frame"]
        if r["split_exact"]:  # no input frame lost around it: causality holds
            assert r["transport_frames"] >= 0  # MIDI cannot leave before its decision sample
            assert r["algorithmic_frames"] > 0
    if health["dropped_cycles"] == 0:
        assert all(r["split_exact"] for r in timed)
    claim = run["claim_e2e_median_le_algorithmic_median_plus_one_period"]
    assert claim["period_ms"] == pytest.approx(period / SR * 1e3)
    assert isinstance(claim["holds"], bool) and claim["health"] == health
    print(f"-p {period}: e2e median {claim['e2e_median_ms']:.1f} ms, algorithmic "
          f"{claim['algorithmic_median_ms']:.1f} ms, holds {claim['holds']}; {health}")


def test_bench_jack_on_a_server_it_starts(tmp_path, capsys):
    from rtnote.bench.jackserver import jack_available

    reason = jack_available()
    require(reason is None, reason)
    runs, out = jack_json(tmp_path, capsys, ["--periods", "128", "--no-rt"])
    assert len(runs) == 1 and runs[0]["server_realtime"] is False
    check_run(runs[0], 128)
    assert "end-to-end median <= algorithmic median + one JACK period?" in out


def test_bench_jack_on_the_users_server(tmp_path, capsys, jack_server):
    runs, out = jack_json(tmp_path, capsys, ["--server", jack_server.name])
    assert len(runs) == 1 and runs[0]["server"] == jack_server.name
    check_run(runs[0], jack_server.period)
