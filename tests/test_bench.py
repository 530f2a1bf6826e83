"""`rtnote bench`: its arithmetic on audio with exactly known onsets (a tone-click track, a
rendered melody), the rule that no latency figure leaves a run without its dropped cycles,
overflows and deadline misses, and one-line errors for bad input. No timed assertions.
"""

import json

import numpy as np
import pytest

from rtnote.analysis.analyzer import Analyzer
from rtnote.bench import measure, report, workload
from rtnote.bench.measure import Health, LatencyFigure, UntrustedFigure
from rtnote.bench.workload import RefNote
from rtnote.events import NoteOff, NoteOn

SR = 44100
#: no family model in these runs (when this rtnote has the --model option)
NO_MODEL = ["--model", "none"] if hasattr(__import__("rtnote.cli.options").cli.options,
                                          "add_model_arguments") else []
CLICK_ONSETS_S = [0.3, 0.75, 1.2, 1.65, 2.1]
CLICK_PITCHES = [45, 52, 60, 69, 81]


@pytest.fixture(scope="module")
def clicks():
    return workload.click_track(CLICK_ONSETS_S, CLICK_PITCHES, sr=SR)


@pytest.fixture(scope="module")
def click_result(clicks):
    return measure.bench(clicks)


# -- the arithmetic -------------------------------------------------------------------------

def on(note_id, onset, decision, pitch, replaces=None):
    return NoteOn(note_id, onset, decision, SR, pitch, 0.0, 100, replaces=replaces)


def off(note_id, onset, offset, pitch):
    return NoteOff(note_id, onset, offset, offset + 100, SR, pitch)


def test_latency_is_decision_sample_minus_true_onset_on_hand_made_events():
    """Reference notes and events with known sample counts: matched, missed, false notes,
    a corrected note, and each latency exactly (decision - true onset) / sr."""
    refs = [RefNote(10000, 30000, 40), RefNote(50000, 70000, 62), RefNote(90000, 110000, 70)]
    events = [
        on(0, 10300, 12000, 40), off(0, 10300, 29000, 40),  # right: latency 2000 samples
        on(1, 50200, 51000, 50), off(1, 50200, 51500, 50),  # wrong pitch, then corrected:
        on(2, 50200, 57000, 62, replaces=1), off(2, 50200, 69000, 62),  # latency 7000
        on(3, 90100, 91000, 75), off(3, 90100, 100000, 75),  # wrong pitch: missed + false
        on(4, 130000, 131000, 80), off(4, 130000, 140000, 80),  # nothing there: false
    ]
    match = measure.match_notes(refs, events, SR)
    assert [(i, e.note_id) for i, e in match.pairs] == [(0, 0), (1, 2)]
    assert (match.n_ref, match.n_est, match.missed, match.false_notes) == (3, 4, 1, 2)
    assert match.f1 == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert list(measure.latency_samples(refs, match)) == [2000, 7000]
    health = Health(overflows=0, deadline_misses=0)
    fig = LatencyFigure(measure.latency_samples(refs, match) / SR, health)
    assert fig.number("median") == pytest.approx(4500 / SR * 1e3)
    assert fig.number("max") == pytest.approx(7000 / SR * 1e3)
    firsts = measure.first_note_on(events)
    assert firsts[2].note_id == 1 and firsts[2].decision_sample == 51000


def test_onset_only_reference_matches_by_onset():
    refs = [RefNote(10000, 20000, None), RefNote(50000, 60000, None)]
    events = [on(0, 10300, 12000, 40), on(1, 50200, 51000, 90), on(2, 80000, 81000, 60)]
    match = measure.match_notes(refs, events, SR)
    assert match.by_onset_only and match.matched == 2 and match.false_notes == 1
    assert list(measure.latency_samples(refs, match)) == [2000, 1000]


def test_click_track_latency_is_exact(clicks, click_result):
    """Every click is found; each latency is its note_on's decision sample minus the click's
    first sample, recomputed here from the analyzer's own events."""
    events = Analyzer(SR).process(clicks.y)
    ons = {e.note_id: e for e in events if isinstance(e, NoteOn)}
    rows = click_result.per_note()
    assert click_result.match.matched == len(CLICK_ONSETS_S) and click_result.match.false_notes == 0
    for row, onset_s, pitch in zip(rows, CLICK_ONSETS_S, CLICK_PITCHES):
        onset = int(round(onset_s * SR))
        assert row["onset_sample"] == onset and row["pitch"] == pitch and row["matched"]
        event = ons[row["note_id"]]
        assert row["decision_sample"] == event.decision_sample
        assert row["latency_ms"] == pytest.approx((event.decision_sample - onset) / SR * 1e3)
        assert 0 < row["latency_ms"] < 200
    assert click_result.latency.number() == pytest.approx(
        np.median([r["latency_ms"] for r in rows]))


def test_shifting_the_true_onsets_shifts_every_latency_by_the_same_samples(clicks, click_result):
    """The latency is measured from the reference onset, not from rtnote's own estimate:
    claiming every note began 200 samples earlier adds exactly 200 samples to each."""
    shifted = workload.Workload(clicks.name, clicks.y, clicks.sr,
                                [RefNote(n.onset_sample - 200, n.offset_sample, n.pitch)
                                 for n in clicks.notes])
    match = measure.match_notes(shifted.notes, click_result.run.events, SR)
    before = measure.latency_samples(clicks.notes, click_result.match)
    after = measure.latency_samples(shifted.notes, match)
    assert list(after - before) == [200] * len(before)


def test_latencies_do_not_depend_on_block_size_or_pacing(clicks, click_result):
    paced = measure.bench(clicks, paced=True, blocksize=300)
    assert paced.run.throughput_x_realtime is None and paced.as_dict()["mode"] == "realtime"
    if paced.run.overflows:  # a worker stalled for the whole ring (2 s): audio was lost
        assert not paced.health.clean and "ring overflows" in paced.latency.text()
        return
    assert [r.get("latency_ms") for r in paced.per_note()] == \
        [r.get("latency_ms") for r in click_result.per_note()]


def test_register_split_counts_every_matched_note_once(click_result):
    regs = click_result.by_register()
    assert list(regs) == ["E1-E2", "E2-C4", "C4 and up"]
    assert sum(f.n for f in regs.values()) == click_result.latency.n
    assert regs["E2-C4"].n == 2 and regs["C4 and up"].n == 3  # MIDI 45, 52 | 60, 69, 81


def test_rendered_melody_scores_as_the_shared_scorer_does():
    """On a rendered melody the bench's matching and latencies equal rtnote.evaluation's
    score_notes (mir_eval, same tolerances) on the same events."""
    from rtnote.errors import RtnoteError
    from rtnote.evaluation import score_notes
    from rtnote.synth import Note

    try:
        w = workload.rendered(n_melodies=2, notes_per_melody=8, seed=3)
    except RtnoteError as exc:
        from conftest import require

        require(False, str(exc))
    result = measure.bench(w)
    truth = [Note(n.pitch, n.onset_sample / w.sr, n.offset_sample / w.sr) for n in w.notes]
    score = score_notes(truth, result.run.events)
    assert result.match.matched == len(score.latency_s) and result.match.n_est == score.n_est
    assert result.match.f1 == pytest.approx(score.f1)
    assert np.sort(result.latency.latency_s) == pytest.approx(np.sort(score.latency_s), abs=1e-9)
    assert result.match.matched >= 0.5 * len(w.notes)
    d = result.as_dict()
    assert d["notes"]["missed"] == len(w.notes) - result.match.matched
    assert d["compute"]["hops"] > 0 and d["compute"]["budget_ms"] == pytest.approx(128 / 44100 * 1e3)
    assert d["throughput_x_realtime"] > 0 and d["memory"]["peak_rss_mb"] > 0


# -- the refusal rule -------------------------------------------------------------------------

def test_a_latency_figure_without_its_runs_health_is_refused():
    with pytest.raises(UntrustedFigure):
        LatencyFigure([0.01, 0.02], None)


def test_a_bare_number_from_an_unclean_run_is_refused_unless_shown_beside():
    bad = Health(dropped_cycles=2, overflows=0, deadline_misses=1)
    fig = LatencyFigure([0.010, 0.020, 0.030], bad)
    with pytest.raises(UntrustedFigure, match="2 dropped cycles.*1 deadline misses"):
        fig.number("median")
    assert fig.number("median", shown_beside=True) == pytest.approx(20.0)
    assert "2 dropped cycles" in fig.text() and "1 deadline misses" in fig.text()
    assert fig.as_dict()["health"] == {"dropped_cycles": 2, "overflows": 0,
                                       "deadline_misses": 1, "clean": False}
    clean = LatencyFigure([0.010], Health(overflows=0, deadline_misses=0))
    assert clean.number() == pytest.approx(10.0) and "run had" not in clean.text()


def test_a_latency_table_shows_the_health_beside_the_figures():
    from rich.console import Console

    bad = Health(overflows=3, deadline_misses=0)
    table = report.latency_table("t", {"all": LatencyFigure([0.01, 0.03], bad)}, bad)
    console = Console(record=True, width=120, color_system=None)
    console.print(table)
    text = " ".join(console.export_text().split())
    assert "NOT A CLEAN RUN: 3 ring overflows, 0 deadline misses" in text
    assert "20.0 ms *" in text


def test_bench_json_and_table_carry_the_health(click_result):
    from rich.console import Console

    d = click_result.as_dict()
    assert d["health"] == {"overflows": 0, "deadline_misses": 0, "clean": True}
    assert d["latency"]["health"] == d["health"]
    assert all(r["health"] == d["health"] for r in d["latency"]["by_register"].values())
    console = Console(record=True, width=140, color_system=None)
    for table in report.bench_tables(click_result):
        console.print(table)
    assert "clean run: 0 ring overflows, 0 deadline misses" in " ".join(console.export_text().split())


# -- sweep ----------------------------------------------------------------------------------

def test_sweep_measures_each_preset_on_the_same_audio(clicks):
    from rtnote.bench.sweep import sweep

    points = sweep(clicks, ["low", "accurate"])
    assert [p.preset for p in points] == ["low", "accurate"]
    for p in points:
        assert p.result.settings.latency == p.preset
        d = p.as_dict()
        assert d["low_note_pitch"]["notes"] == 1  # MIDI 45 is the one click below C3
        assert d["latency"]["notes"] == p.result.match.matched


# -- the command ----------------------------------------------------------------------------

def write_clicks(tmp_path, clicks, header=True, pitch=True):
    audio = tmp_path / "clicks.wav"
    clicks.write(audio)
    rows = ["onset_s,pitch"] if header else []
    for n in clicks.notes:
        rows.append(f"{n.onset_sample / SR!r},{n.pitch}" if pitch else f"{n.onset_sample / SR!r}")
    onsets = tmp_path / "clicks.csv"
    onsets.write_text("\n".join(rows) + "\n")
    return audio, onsets


def run_cli(args, capsys):
    from rtnote.cli import main

    code = main(["bench", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_measures_a_recording_with_a_csv_of_onsets(tmp_path, clicks, click_result, capsys):
    audio, onsets = write_clicks(tmp_path, clicks)
    out_json, out_png = tmp_path / "b.json", tmp_path / "b.png"
    code, out, err = run_cli(["--audio", str(audio), "--onsets", str(onsets), *NO_MODEL,
                              "--json", str(out_json), "--plot", str(out_png)], capsys)
    assert code == 0, err
    d = json.loads(out_json.read_text())
    assert [r["latency_ms"] for r in d["per_note"]] == pytest.approx(
        [r["latency_ms"] for r in click_result.per_note()])
    health = d["health"]  # a deadline miss on a busy machine is reported, not hidden
    assert d["notes"]["matched"] == 5 and health["overflows"] == 0
    assert health["clean"] is (health["deadline_misses"] == 0)
    assert out_png.stat().st_size > 10000 and out_png.read_bytes()[:4] == b"\x89PNG"
    assert "algorithmic latency" in out and ("clean run" in out) is health["clean"]


def test_cli_onset_only_csv(tmp_path, clicks, capsys):
    audio, onsets = write_clicks(tmp_path, clicks, header=False, pitch=False)
    out_json = tmp_path / "b.json"
    code, out, err = run_cli(["--audio", str(audio), "--onsets", str(onsets), *NO_MODEL,
                              "--json", str(out_json)], capsys)
    assert code == 0, err
    d = json.loads(out_json.read_text())
    assert d["notes"]["matched_by"] == "onset only" and d["latency"]["by_register"] == {}


def test_cli_reads_onsets_from_a_midi_file(tmp_path, clicks, capsys):
    import mido

    audio = tmp_path / "clicks.wav"
    clicks.write(audio)
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    t = 0.0
    for n in clicks.notes:  # 120 bpm: 960 ticks a second
        for kind, at in (("note_on", n.onset_sample / SR), ("note_off", n.offset_sample / SR)):
            ticks = int(round((at - t) * 960))
            track.append(mido.Message(kind, note=n.pitch, velocity=90, time=ticks))
            t += ticks / 960
    mid.save(tmp_path / "clicks.mid")
    w = workload.from_files(str(audio), str(tmp_path / "clicks.mid"))
    assert [n.pitch for n in w.notes] == CLICK_PITCHES
    assert all(abs(a.onset_sample - b.onset_sample) <= SR / 960 for a, b in zip(w.notes, clicks.notes))


BAD = [
    (["--audio", "{audio}"], "--audio needs --onsets"),
    (["--onsets", "{csv}"], "--onsets needs --audio"),
    (["--audio", "{audio}", "--onsets", "{dir}/missing.csv"], "missing.csv: no such onsets file"),
    (["--audio", "{dir}/missing.wav", "--onsets", "{csv}"], "missing.wav: no such file"),
    (["--audio", "{audio}", "--onsets", "{late}"], "onsets and audio do not match"),
    (["--audio", "{audio}", "--onsets", "{ragged}"], "line 3: 1 columns, but line 2 has 2"),
    (["--audio", "{audio}", "--onsets", "{word}"], "line 2: not a number"),
    (["--audio", "{audio}", "--onsets", "{empty}"], "contains no notes"),
    (["--audio", "{audio}", "--onsets", "{badmid}"], "not a readable MIDI file"),
    (["--audio", "{audio}", "--onsets", "{txt}"], "must be a .mid/.midi or .csv file"),
    (["--audio", "{csv}", "--onsets", "{csv}"], "not a readable audio file"),
    (["--jack", "--sweep"], "--jack and --sweep"),
    (["--jack", "--periods", "100"], "--periods must be powers of two"),
    (["--server", "x"], "--server needs --jack"),
    (["--no-rt"], "--no-rt needs --jack"),
    (["--periods", "128"], "--periods needs --jack"),
    (["--presets", "low"], "--presets needs --sweep"),
    (["--sweep", "--presets", "fast"], "--presets must name settings"),
    (["--melodies", "0"], "--melodies must be >= 1"),
    (["--plot", "{dir}/out.jpg"], "--plot writes a PNG"),
    (["--json", "{dir}/nowhere/out.json"], "does not exist"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[m for _, m in BAD])
def test_cli_bad_input_gives_one_error_line(tmp_path, clicks, capsys, args, message):
    audio, csv = write_clicks(tmp_path, clicks)
    files = {"late": "0.5,60\n9.0,62\n", "ragged": "onset_s,pitch\n0.3,60\n0.7\n",
             "word": "0.3,60\nsoon,62\n", "empty": "# nothing\n", "badmid": None, "txt": "0.3\n"}
    paths = {"audio": audio, "csv": csv, "dir": tmp_path}
    for name, text in files.items():
        path = tmp_path / (f"{name}.mid" if name == "badmid" else f"{name}.{'txt' if name == 'txt' else 'csv'}")
        if text is None:
            path.write_bytes(b"MThd not really")
        else:
            path.write_text(text)
        paths[name] = path
    args = [a.format(**paths) for a in args]
    code, out, err = run_cli(args + NO_MODEL, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtnote: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
