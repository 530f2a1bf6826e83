"""Faults and hostile input through the real engine: damaged files, a stalled worker, a short
soak, nonsense settings, signals at random moments (the JACK cases are in
test_faults_jack.py). benchmarks/faults.py runs the long versions and counts them.

Only what cannot flake is asserted: exit codes, messages, counts that must be exact, and
notes compared with the same audio run without the fault.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import mido
import numpy as np
import pytest
import soundfile as sf

from rtnote.analysis.analyzer import Analyzer
from rtnote.bench import faults
from rtnote.engine import Engine
from rtnote.errors import AudioFileError, RtnoteError
from rtnote.events import NoteOff, NoteOn
from rtnote.sinks import EventList
from rtnote.transcribe import transcribe_file


def rtnote(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "rtnote", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kw)


def tone_file(path, sr, seconds, f0=440.0):
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * f0 * t) * (t > 0.2)
    sf.write(path, y.astype(np.float32), sr)
    return path


def only_rtnote_lines(stderr):
    """Every stderr line is rtnote's own (no traceback, no C library chatter)."""
    return [line for line in stderr.splitlines() if not line.startswith("rtnote: ")
            and " notes in " not in line]


# -- damaged files ------------------------------------------------------------------------

def test_a_block_larger_than_the_ring_buffer_does_not_hang(tmp_path):
    """The ring holds 2 s; a 100000-sample block at 8 kHz never fitted and the file reader
    waited for room forever."""
    path = tone_file(tmp_path / "t.wav", 8000, 5.0)
    events = transcribe_file(path, blocksize=100_000).events
    assert events == transcribe_file(path, blocksize=512).events
    assert [e.pitch for e in events if e.type == "note_on"] == [69]


def test_a_header_rate_out_of_range_names_the_file(tmp_path):
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(2000, np.float32), 500)
    with pytest.raises(AudioFileError, match="slow.wav: sample rate must be"):
        transcribe_file(path)


def test_fuzzed_files_read_or_fail_in_one_line(tmp_path):
    """Seeded damage to WAV/FLAC/OGG/MP3 files: each file either gives paired events or one
    AudioFileError, quickly; nothing else ever comes out."""
    files = faults.fuzz_files(str(tmp_path), 96, seed=1)
    assert {f.ext for f in files} >= {"wav", "flac", "ogg"}
    outcomes = {}
    for f in files:
        t0 = time.monotonic()
        try:
            events = transcribe_file(f.path).events
            assert not faults.unpaired(events)
            outcome = "read"
        except AudioFileError as exc:
            assert "\n" not in str(exc) and f.path in str(exc)
            outcome = "error"
        assert time.monotonic() - t0 < 10, f
        outcomes[(f.ext, outcome)] = outcomes.get((f.ext, outcome), 0) + 1
    print(outcomes)


def test_a_batch_of_damaged_files_gives_one_line_each_and_goes_on(tmp_path, melody_wav):
    files = faults.fuzz_files(str(tmp_path), 24, seed=2)
    good = melody_wav[0]
    out = tmp_path / "out"
    inputs = [f.path for f in files[:12]] + [good] + [f.path for f in files[12:]]
    proc = rtnote("transcribe", *inputs, "--out-dir", out, "--model", "none")
    assert "Traceback" not in proc.stderr
    assert not only_rtnote_lines(proc.stderr), proc.stderr
    for f in inputs:
        said = [line for line in proc.stderr.splitlines() if line.startswith(f"{f}: ")
                or line.startswith(f"rtnote: error: {f}:")]  # (warnings aside)
        assert len(said) == 1, (f, proc.stderr)  # one line per file: its notes or its error
    failed = proc.stderr.count("rtnote: error:")
    assert proc.returncode == (1 if failed else 0)
    assert (out / "melody.mid").exists() and (out / "melody.jsonl").exists()
    assert not list(out.glob(".rtnote-*"))  # no temp file left behind


# -- a stalled worker ----------------------------------------------------------------------

def ref_ons(events, lo):
    return [(e.onset_sample, e.pitch) for e in events if isinstance(e, NoteOn)
            and e.replaces is None and e.onset_sample >= lo]


def test_a_stalled_worker_overflows_counts_and_recovers(melody, capsys):
    """The worker sleeps 1.5 s with a 0.5 s ring: the paced source keeps writing (never
    blocked), about a second of audio is dropped and counted, the summary line shows the
    overflows, no note is placed in the lost audio, the clock stays exact, and the notes
    after the stall are found."""
    from rtnote.live import LiveRun

    y, sr, notes = melody
    y = y[: 7 * sr]
    analyzer = faults.StalledAnalyzer(Analyzer(sr), at_sample=int(1.5 * sr), stall_s=1.5)
    engine = Engine(analyzer, ring_s=0.5)
    source = faults.MemorySource([y], sr, blocksize=256, paced=True)
    run = LiveRun(engine, source, view="none", events_file=None)
    collected = EventList()
    engine.sinks.append(collected)
    assert run.run() == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    ring = engine.ring
    assert ring.dropped_blocks > 0 and f"{ring.dropped_blocks} overflows" in summary
    assert run.stats["overflows"] == ring.dropped_blocks
    # every dropped sample is accounted for: the clock ends where the audio ends
    assert sum(n for _, n in analyzer.skips) == ring.dropped_samples
    assert 0 <= len(y) - analyzer.samples_seen < analyzer.hop_length
    assert source.max_write_s < 0.5  # the writer never waited for the stalled worker
    # the stall is a deadline miss, and one the worker spent off the CPU (asleep)
    compute = run.stats["compute"]
    assert compute["deadline_misses"] >= 1 and compute["deadline_misses_off_cpu"] >= 1
    # and it is described: where it ended, how long it took, mostly asleep
    stalled = [s for s in compute["late_steps"] if s["wall_ms"] > 1000]
    assert len(stalled) == 1 and stalled[0]["cpu_ms"] < 100
    stall_at, _ = analyzer.stalls[0]
    assert 0 < stalled[0]["end_sample"] - stall_at <= 4 * 256
    events = collected.events
    assert not faults.invented_in_gaps(events, analyzer.skips)
    assert not faults.unpaired(events)
    gap_at, lost = analyzer.skips[0]
    for e in events:  # the note sounding when audio was lost ended there
        if isinstance(e, NoteOff) and e.onset_sample < gap_at:
            assert e.offset_sample <= gap_at
    after = gap_at + lost + sr // 2
    truth = [n for n in notes if after <= n.onset_s * sr < len(y) - sr // 4]
    found = [n for n in truth if any(abs(e.onset_sample / sr - n.onset_s) < 0.05
                                     and abs(e.pitch - n.pitch) <= 1
                                     for e in events if isinstance(e, NoteOn))]
    assert truth and len(found) >= 0.75 * len(truth), (len(found), len(truth))


# -- a short soak --------------------------------------------------------------------------

def test_a_long_run_gives_each_segment_the_notes_it_gives_alone(renderer_factory):
    """Three minutes of music (rendered phrases, repeated at three levels in a seeded order)
    through the engine as fast as possible: every repeat gives exactly the events of its
    audio run alone, shifted by its start; the clock ends on the last sample; no deadline
    misses are asserted here (benchmarks/faults.py reports them for an hour)."""
    renderer_factory("FluidR3_GM")  # skips (fails in CI) without FluidSynth
    segments = faults.soak_segments(n_segments=3, notes=20, seed=3)
    plan = faults.soak_plan(segments, 180, seed=3)
    alone = {}
    for s, g in set(plan):
        a = Analyzer(44100)
        y = segments[s] * faults.GAINS[g]
        alone[(s, g)] = faults.normalized(a.process(y) + a.finish())
    starts = np.cumsum([0] + [len(segments[s]) for s, _ in plan])
    checker = faults.SegmentChecker(starts, [alone[p] for p in plan])
    analyzer = Analyzer(44100)
    engine = Engine(analyzer, [checker])
    source = faults.MemorySource((segments[s] * faults.GAINS[g] for s, g in plan), 44100)
    engine.run(source)
    checker.close()
    assert checker.notes_expected > 50
    assert checker.mismatched == [] and checker.notes_lost == 0 and checker.notes_extra == 0
    assert checker.matched == len(plan)
    assert analyzer.samples_seen == starts[-1] == source.frames_read


# -- nonsense settings ---------------------------------------------------------------------

#: one case per way to be wrong and command (benchmarks/faults.py runs them all; a few are
#: in test_bad_input.py and test_live_jack.py too)
NONSENSE = [(c, a) for c, a in faults.NONSENSE_SETTINGS if (c, a) in {
    ("transcribe", "{wav} --latency fast"), ("transcribe", "{wav} --blocksize abc"),
    ("transcribe", "{wav} -o {tmp}/missing/x.mid --model none"),
    ("transcribe", "{wav} --events {tmp} --model none"),
    ("transcribe", "{wav} {wav} -o {tmp}/x.mid --model none"),
    ("listen", "--samplerate -44100"), ("listen", "--blocksize 99999999"),
    ("listen", "--channels 0"), ("listen", "--device no-such-device"),
    ("listen", "--midi-out '' --midi-api jack"), ("listen", "--bend-range 0 --midi-out"),
    ("listen", "--midi-out x --midi-port y"), ("listen", "-o {tmp}/missing/x.mid"),
    ("demo", "--a4 1e9"), ("demo", "--events {tmp}"), ("bench", "--jack --periods 300"),
    ("bench", "--json {tmp}/missing/b.json"), ("midi-ports", "--midi-api bogus"),
    ("devices", "--host-api"), ("train", "-o model.pkl"), ("evaluate", "--model none")}]


@pytest.mark.parametrize("command,args", NONSENSE, ids=[f"{c} {a}" for c, a in NONSENSE])
def test_nonsense_settings_get_one_line_and_fail(command, args, tmp_path):
    import shlex

    wav = tone_file(tmp_path / "t.wav", 8000, 1.0)
    argv = [command, *shlex.split(args.format(wav=wav, tmp=tmp_path))]
    if command in ("listen", "demo") and "--model" not in argv:
        argv += ["--model", "none"]
    env = dict(os.environ, JACK_NO_START_SERVER="1", JACK_DEFAULT_SERVER="rtnote-none")
    proc = rtnote(*argv, env=env, timeout=60)
    assert proc.returncode not in (0, None), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtnote: error: "), proc.stderr


@pytest.mark.parametrize("command", ["transcribe", "demo", "listen"])
def test_damaged_model_files_are_one_line_for_every_command(command, tmp_path):
    """A truncated or edited model (also with --trust-model), one from another
    scikit-learn, one without a manifest, not a model at all: one line, exit 1, through the
    commands that load one (rtnote.classifier's own tests cover load_model itself)."""
    wav = tone_file(tmp_path / "t.wav", 8000, 1.0)
    env = dict(os.environ, JACK_NO_START_SERVER="1", JACK_DEFAULT_SERVER="rtnote-none")
    models = faults.damaged_models(str(tmp_path))
    if command != "transcribe":  # the loading is shared: two kinds are enough here
        models = {k: models[k] for k in ("truncated_trusted", "other_sklearn")}
    for name, (path, extra) in models.items():
        args = [wav, "-o", tmp_path / "x.mid"] if command == "transcribe" else ["--view", "none"]
        proc = rtnote(command, *args, "--model", path, *extra, env=env, timeout=60)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1, (name, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("rtnote: error: "), (name, proc.stderr)
        assert path in lines[0] or "model" in lines[0], (name, lines)
    assert not (tmp_path / "x.mid").exists()


# -- signals at random moments -------------------------------------------------------------

def session_processes(sid):
    """Pids still alive in session ``sid`` (zombies included)."""
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:  # fields after the name: state, ppid, pgrp, session
                alive.append(int(entry))
    return alive


def check_outputs(tmp_path, stem):
    """-o / --events / --stats are whole or absent, never half-written; returns note_ons."""
    assert not list(tmp_path.glob(".rtnote-*")), list(tmp_path.iterdir())
    mid, jsonl, stats = (tmp_path / f"{stem}{ext}" for ext in (".mid", ".jsonl", ".json"))
    ons = None
    if jsonl.exists():
        events = [json.loads(line) for line in jsonl.read_text().splitlines()]
        ons = {e["note_id"] for e in events if e["type"] == "note_on"}
        assert ons == {e["note_id"] for e in events if e["type"] == "note_off"}
    if mid.exists():
        mido.MidiFile(mid)  # parses whole
    if stats.exists():
        json.loads(stats.read_text())
    return ons


@pytest.mark.parametrize("seed", range(6))
def test_signals_at_random_moments_end_the_demo_cleanly(tmp_path, seed):
    """SIGINT or SIGTERM at a random moment of `rtnote demo` (start-up included): a clean
    exit with a clear line, no traceback, no process left (the family classifier's
    included), outputs whole or absent."""
    rng = np.random.default_rng(seed)
    sig = (signal.SIGINT, signal.SIGTERM)[seed % 2]
    delay = float(rng.uniform(0.3, 2.5 if seed < 4 else 5.0))  # from when rtnote's own code runs
    model = ["--model", "none"] if seed < 4 else []
    stem = f"run{seed}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtnote", "demo", *model, "--view", "none",
         "-o", str(tmp_path / f"{stem}.mid"), "--events", str(tmp_path / f"{stem}.jsonl"),
         "--stats", str(tmp_path / f"{stem}.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(delay)
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"rtnote demo did not end after {sig.name} at {delay:.2f} s")
    name = sig.name
    assert "Traceback" not in err and not only_rtnote_lines(err), err
    if proc.returncode == 0:  # stopped by the signal, or ended before it
        assert f"stopped by {name}" in err or " notes in " in err, err
    else:  # the signal came before the run began
        assert proc.returncode == 128 + sig, (proc.returncode, err)
        assert err.strip().splitlines()[-1] == f"rtnote: interrupted ({name})", err
    time.sleep(0.1)
    assert session_processes(proc.pid) == []
    check_outputs(tmp_path, stem)


@pytest.mark.parametrize("ignored", ["SIGHUP", "SIGINT"])
def test_a_signal_the_run_was_started_ignoring_stays_ignored(ignored):
    """Started with SIGHUP ignored (nohup) or SIGINT ignored (a shell's background job),
    `rtnote demo` keeps on through that signal, at start-up and while it plays, and still
    ends cleanly at SIGTERM."""
    sig = getattr(signal, ignored)
    here = signal.signal(sig, signal.SIG_IGN)  # what a child is started ignoring
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rtnote", "demo", "--model", "none", "--view", "none"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    finally:
        signal.signal(sig, here)
    try:
        for _ in range(2):  # during start-up, then once the clip plays
            time.sleep(1.0)
            proc.send_signal(sig)
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err, err


def test_sigint_at_random_moments_in_process_leaves_no_thread(melody):
    """LiveRun in this process, SIGINT from a timer at random moments: every rtnote thread
    has ended when run() returns, every note_on has its note_off at the MIDI sink and "all
    notes off" was sent."""
    from rtnote.live import LiveRun
    from rtnote.sinks.midiport import MidiOutSink

    class Port:
        def __init__(self):
            self.sent = []

        def send(self, msg):
            self.sent.append(msg)

        def close(self):
            pass

    y, sr, _ = melody
    rng = np.random.default_rng(5)
    for _ in range(3):
        port = Port()
        engine = Engine(Analyzer(sr))
        source = faults.MemorySource([y[: 4 * sr]], sr, blocksize=512, paced=True)
        run = LiveRun(engine, source, view="none", midi=MidiOutSink(port))
        delay = float(rng.uniform(0.05, 2.5))

        def shoot():
            deadline = time.monotonic() + 5
            while signal.getsignal(signal.SIGINT) != run._on_signal:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.001)
            time.sleep(delay)
            if signal.getsignal(signal.SIGINT) == run._on_signal:  # never pytest's own
                os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Thread(target=shoot)
        timer.start()
        code = run.run()
        timer.join()
        assert code == 0
        assert not [t.name for t in threading.enumerate() if t.name.startswith("rtnote-")]
        on = [(m.channel, m.note) for m in port.sent if m.type == "note_on" and m.velocity]
        off = [(m.channel, m.note) for m in port.sent if m.type == "note_off"
               or (m.type == "note_on" and not m.velocity)]
        assert sorted(on) == sorted(off)
        assert port.sent[-1].is_cc(123)


def test_a_signal_a_library_swallowed_at_start_up_still_stops_the_live_run(melody):
    """SIGINT at start-up raises inside code that catches everything (as some libraries do
    while importing): the live run that starts afterwards stops at once, by SIGINT, instead
    of running until killed."""
    from rtnote import interrupts
    from rtnote.live import LiveRun

    y, sr, _ = melody
    with interrupts.caught():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the handler raises here
        except BaseException:  # noqa: BLE001 - the library's bare except
            pass
        source = faults.MemorySource([y], sr, blocksize=512, paced=True)
        run = LiveRun(Engine(Analyzer(sr)), source, view="none")
        started = time.monotonic()
        assert run.run() == 0
        assert run.stopped_by == "SIGINT"
        assert time.monotonic() - started < 0.5 * len(y) / sr
        assert interrupts.received is None  # the run took it


def test_a_signal_while_the_run_installs_its_handlers_stops_it(melody, monkeypatch):
    """SIGINT just after the run's own SIGINT handler is in place (before it looks for a
    signal that came earlier, then forgets that one): the run still stops at once, by SIGINT."""
    from rtnote.live import LiveRun

    y, sr, _ = melody
    source = faults.MemorySource([y], sr, blocksize=512, paced=True)
    run = LiveRun(Engine(Analyzer(sr)), source, view="none")
    install = signal.signal

    def install_then_shoot(sig, handler):
        old = install(sig, handler)
        if sig == signal.SIGINT and handler == run._on_signal:
            os.kill(os.getpid(), signal.SIGINT)
        return old

    monkeypatch.setattr(signal, "signal", install_then_shoot)
    started = time.monotonic()
    assert run.run() == 0
    assert run.stopped_by == "SIGINT"
    assert time.monotonic() - started < 0.5 * len(y) / sr


# -- output files that cannot be written ---------------------------------------------------

def test_an_output_that_cannot_be_written_at_the_end_is_one_line(tmp_path, melody):
    """The folder of -o vanishes during the run: the other outputs are still written and
    the run ends with one error line."""
    from rtnote.live import LiveRun

    y, sr, _ = melody
    gone = tmp_path / "gone"
    gone.mkdir()
    engine = Engine(Analyzer(sr))
    source = faults.MemorySource([y[:sr]], sr, blocksize=512, paced=False)
    run = LiveRun(engine, source, view="none", midi_file=str(gone / "x.mid"),
                  events_file=str(tmp_path / "x.jsonl"), stats_path=str(tmp_path / "s.json"))
    gone.rmdir()
    assert run.run() == 1
    assert (tmp_path / "x.jsonl").exists()
    stats = json.loads((tmp_path / "s.json").read_text())
    assert "cannot write" in stats["error"]
    assert not list(tmp_path.glob(".rtnote-*"))


def test_transcribe_output_errors_are_one_line(tmp_path):
    wav = tone_file(tmp_path / "t.wav", 8000, 1.0)
    with pytest.raises(RtnoteError, match="folder .* does not exist"):
        transcribe_file(wav, midi_path=tmp_path / "missing" / "t.mid")
