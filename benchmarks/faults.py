"""Faults, hostile input and long runs: rtnote never crashes, hangs, leaks or leaves a note on.

    python benchmarks/faults.py                 every section at full count (~1 h 15 min)
    python benchmarks/faults.py --quick         small counts (a few minutes), to try it
    python benchmarks/faults.py --only soak,fuzz
    python benchmarks/faults.py --keep --only live   rerun one section, keep the others' figures

Sections (each counted; "must be 0" figures are the ones that break the promise):
- fuzz: damaged WAV/FLAC/OGG/MP3 files (seeded bit flips, truncations, header garbage,
  garbage bursts, zeroed runs, duplicated chunks) and crafted WAV headers, in batches through
  ``rtnote transcribe --out-dir``, each batch with one good file: one line per file, never a
  traceback or a line that is not rtnote's, no hang, the good file always transcribed.
- stall: the worker sleeps (0.5 to 9 s) while a paced source plays into the default 2 s
  ring: overflows counted and shown, the writer never waits, no note in the lost audio, the
  clock exact, notes after the stall found as without it.
- soak: an hour of rendered music (FluidR3_GM phrases, repeated at three levels in a seeded
  order) through the engine as fast as possible, with the shipped family model: resident
  memory along the run, the sample clock against the sample count, deadline misses, and each
  repeat's events against the same audio run alone.
- live: 10 minutes played through JACK (jackd --realtime, as on a musician's machine) into
  ``rtnote listen`` (benchmarks/live_soak.py).
- signals: SIGINT/SIGTERM at random moments of ``rtnote listen --midi-out`` on JACK with a
  melody playing and a receiver (start-up included), and of ``rtnote demo``.
- server: the JACK server stopping mid-note, half of the times coming back at once.
- receiver: the DAW leaving rtnote's virtual port mid-note (another connects), and the
  existing port of --midi-port vanishing.
- settings, models: nonsense settings for every command and damaged model files.

Writes benchmarks/out/faults.json and the "faults" section of benchmarks/RESULTS.md.
Needs jackd2, libportaudio2, JACK-Client, FluidSynth and the Debian soundfonts. The machine
is shared: run it with nice; the timing figures (deadline misses, dropped cycles) carry the
load average beside them.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from rtnote.bench import faults  # noqa: E402

SECTIONS = ("fuzz", "stall", "soak", "live", "signals", "server", "receiver", "settings", "models")
FULL = {"fuzz": 2000, "stalls": (0.5, 1.0, 2.5, 4.0, 9.0), "soak_hours": 1.0, "live_minutes": 10.0,
        "signals": 50, "demo_signals": 25, "servers": 10, "receivers": 10}
QUICK = {"fuzz": 200, "stalls": (1.0, 4.0), "soak_hours": 0.1, "live_minutes": 1.0,
         "signals": 6, "demo_signals": 4, "servers": 2, "receivers": 2}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Proc:
    """``python -m rtnote ARGS`` in its own session; stdout/stderr collected by threads."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen([sys.executable, "-m", "rtnote", *map(str, args)],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self.err, self.out = [], []
        self._threads = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stderr, self.err), (self.proc.stdout, self.out))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line)

    @property
    def stderr(self):
        return "".join(self.err)

    def wait(self, timeout, resend=None):
        """Exit code, or None after killing a process that did not end within ``timeout``.
        ``resend``: before killing it, send that signal once more and note in ``stuck``
        whether the process then ended (was the first one lost, or does it not stop?)."""
        self.stuck = None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stuck = stuck_threads(self.proc.pid)
            if resend is not None:
                self.proc.send_signal(resend)
                try:
                    again = self.proc.wait(5)
                    self.stuck += f"\nthe signal sent again ended it: exit {again}"
                except subprocess.TimeoutExpired:
                    self.stuck += "\nthe signal sent again did not end it in 5 s"
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            code = None
        for t in self._threads:
            t.join(5)
        return code

    def left_behind(self):
        """Processes still alive in its session (after it was reaped)."""
        return session_processes(self.proc.pid)


def stuck_threads(pid):
    """What a hung process's threads wait in: 'name state wchan pending/blocked/ignored/caught
    signal masks' for each, and the same for its children (py-spy, where installed, adds the
    Python stacks)."""
    out = []
    for p in [pid] + [int(k) for k in _read(f"/proc/{pid}/task/{pid}/children").split()]:
        for tid in sorted(os.listdir(f"/proc/{p}/task")) if os.path.isdir(f"/proc/{p}/task") else []:
            stat = _read(f"/proc/{p}/task/{tid}/stat")
            name, state = stat[stat.find("(") + 1:stat.rfind(")")], stat[stat.rfind(")") + 2:][:1]
            masks = [line.split()[1] for line in _read(f"/proc/{p}/task/{tid}/status").splitlines()
                     if line.split()[:1] in (["SigPnd:"], ["SigBlk:"], ["SigIgn:"], ["SigCgt:"])]
            out.append(f"{p}/{tid} {name} {state} {_read(f'/proc/{p}/task/{tid}/wchan')} "
                       f"pending/blocked/ignored/caught signals {'/'.join(masks)}")
        if shutil.which("py-spy"):
            dump = subprocess.run(["py-spy", "dump", "--pid", str(p)], capture_output=True,
                                  text=True, timeout=30)
            out.append(dump.stdout)
    return "\n".join(out)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def late_steps_text(steps):
    """' Late worker steps (...): 9.3 / 9.1 ms (0.2 ms system, 2 preemptions), nothing decided; ...'
    from live_soak's rtnote_late_steps, or ''."""
    if not steps:
        return ""
    parts = [f"{s['wall_ms']:.1f} / {s['cpu_ms']:.1f} ms ({s.get('system_cpu_ms', 0):.1f} ms system, "
             f"{s.get('page_faults', 0)} page faults, {s.get('preempted', 0)} preemptions), "
             f"{', '.join(s['decided']) or 'nothing'} decided" for s in steps[:10]]
    return (" Late worker steps (wall / CPU time for their hops; what they decided): "
            + "; ".join(parts) + ".")


def same_work_text(w):
    """'; one fixed job ... took ...' from live_soak's same_work_cpu_ms, or ''."""
    if not w:
        return ""
    return (f"; meanwhile one fixed job, run {w['runs']} times in another process, took {w['median']:.2f} ms "
            f"of CPU median, {w['p99']:.2f} ms p99, {w['max']:.2f} ms at most, {w['runs_over_5x_median']} "
            f"runs over 5 times its median: the spread of identical work is the machine's")


def late_clients_text(late):
    """'rtnote-in (Triggered) 2, ...' from live_soak's late_clients, or 'none'."""
    return ", ".join(f"{k} {n}" for k, n in sorted((late or {}).items())) or "none"


def session_processes(sid):
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:
                alive.append(int(entry))
    return alive


def foreign_lines(stderr):
    """stderr lines that are not rtnote's own (tracebacks, C libraries)."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith("rtnote: ") and " notes in " not in line]


def outputs_whole(folder, stem):
    """(whole, note_on pitches of the events file or None): -o/--events/--stats are whole or
    absent, never half-written, and no temp file is left."""
    import mido

    if any(name.startswith(".rtnote-") for name in os.listdir(folder)):
        return False, None
    pitches = None
    try:
        path = os.path.join(folder, f"{stem}.jsonl")
        if os.path.exists(path):
            events = [json.loads(line) for line in open(path).read().splitlines()]
            ons = [e for e in events if e["type"] == "note_on"]
            if {e["note_id"] for e in ons} != {e["note_id"] for e in events if e["type"] == "note_off"}:
                return False, None
            pitches = [e["pitch"] for e in ons]
        if os.path.exists(os.path.join(folder, f"{stem}.mid")):
            mido.MidiFile(os.path.join(folder, f"{stem}.mid"))
        if os.path.exists(os.path.join(folder, f"{stem}.json")):
            json.load(open(os.path.join(folder, f"{stem}.json")))
    except Exception:  # noqa: BLE001 - any parse failure is a half-written file
        return False, None
    return True, pitches


# -- fuzz ----------------------------------------------------------------------------------

def crafted_wav_headers(folder):
    """WAV files whose header fields are set to nonsense, one field at a time."""
    import struct

    y, sr = faults.test_signal()
    clean = bytearray(faults.encode("wav", y, sr))
    cases = [("rate0", 24, "<I", 0), ("rate1", 24, "<I", 1), ("rate_huge", 24, "<I", 2**31 - 1),
             ("rate_max", 24, "<I", 2**32 - 1), ("channels0", 22, "<H", 0),
             ("channels1000", 22, "<H", 1000), ("channels65535", 22, "<H", 65535),
             ("bits0", 34, "<H", 0), ("bits7", 34, "<H", 7), ("bits64", 34, "<H", 64),
             ("data_huge", 40, "<I", 2**32 - 1), ("data0", 40, "<I", 0), ("align0", 32, "<H", 0),
             ("format_float", 20, "<H", 3), ("format_unknown", 20, "<H", 0x55), ("riff_size8", 4, "<I", 8)]
    out = []
    for name, offset, fmt, value in cases:
        data = bytearray(clean)
        data[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
        path = os.path.join(folder, f"crafted-{name}.wav")
        with open(path, "wb") as f:
            f.write(data)
        out.append(faults.FuzzFile(path, "wav", f"header:{name}"))
    return out


def run_fuzz(n, seed, batch=100):
    import soundfile

    tmp = tempfile.mkdtemp(prefix="rtnote-fuzz-")
    try:
        files = crafted_wav_headers(tmp) + faults.fuzz_files(tmp, n, seed=seed)
        y, sr = faults.test_signal()
        good = os.path.join(tmp, "good.wav")
        soundfile.write(good, y, sr)
        r = {"inputs": len(files), "formats": faults.fuzz_formats(), "read": 0, "errors": 0,
             "warnings": 0, "tracebacks": 0, "foreign_lines": 0, "not_one_line": 0,
             "hangs": 0, "good_file_missed": 0, "temp_files_left": 0, "batches": 0,
             "by_format": {}, "slowest_batch_s": 0.0, "examples_of_foreign_lines": []}
        for b in range(0, len(files), batch):
            chunk = files[b:b + batch]
            out = os.path.join(tmp, f"out{b}")
            inputs = [f.path for f in chunk[: len(chunk) // 2]] + [good] + [f.path for f in chunk[len(chunk) // 2:]]
            t0 = time.monotonic()
            proc = Proc(["transcribe", *inputs, "--out-dir", out, "--model", "none"])
            code = proc.wait(600)
            r["slowest_batch_s"] = max(r["slowest_batch_s"], time.monotonic() - t0)
            r["batches"] += 1
            if code is None:
                r["hangs"] += 1
                continue
            err = proc.stderr
            r["tracebacks"] += err.count("Traceback")
            foreign = foreign_lines(err)
            r["foreign_lines"] += len(foreign)
            r["examples_of_foreign_lines"] += foreign[: max(0, 3 - len(r["examples_of_foreign_lines"]))]
            lines = err.splitlines()
            r["warnings"] += sum(line.startswith("rtnote: warning:") for line in lines)
            for f in chunk + [faults.FuzzFile(good, "wav", "good")]:
                ok = [line for line in lines if line.startswith(f"{f.path}: ")]
                bad = [line for line in lines if line.startswith(f"rtnote: error: {f.path}:")]
                if len(ok) + len(bad) != 1:
                    r["not_one_line"] += 1
                if f.kind == "good":
                    r["good_file_missed"] += len(ok) != 1 or not os.path.exists(os.path.join(out, "good.mid"))
                    continue
                outcome = "read" if ok else "errors"
                r[outcome] += 1
                key = f"{f.ext} {f.kind.split(':')[0]}"
                r["by_format"].setdefault(key, {"read": 0, "errors": 0})[outcome] += 1
            if os.path.isdir(out):
                r["temp_files_left"] += sum(name.startswith(".rtnote-") for name in os.listdir(out))
            log(f"fuzz: {b + len(chunk)}/{len(files)} inputs, exit {code}")
        return r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- stall ---------------------------------------------------------------------------------

def run_stalls(stalls, seed):
    from rtnote.analysis.analyzer import Analyzer
    from rtnote.bench.workload import rendered
    from rtnote.engine import Engine
    from rtnote.events import NoteOn
    from rtnote.live import LiveRun
    from rtnote.sinks import EventList

    work = rendered(n_melodies=3, notes_per_melody=16, soundfont="FluidR3_GM", sr=44100, seed=seed)
    sr = work.sr
    at_s = 3.0
    runs = []
    for stall_s in stalls:
        n = min(len(work.y), int((at_s + stall_s + 10.0) * sr))
        y = work.y[:n]
        ref_an = Analyzer(sr)
        reference = ref_an.process(y) + ref_an.finish()
        analyzer = faults.StalledAnalyzer(Analyzer(sr), int(at_s * sr), stall_s)
        engine = Engine(analyzer)  # the default 2 s ring
        source = faults.MemorySource([y], sr, blocksize=256, paced=True)
        collected = EventList()
        engine.sinks.append(collected)
        said = io.StringIO()
        t0 = time.monotonic()
        with contextlib.redirect_stderr(said):
            code = LiveRun(engine, source, view="none").run()
        wall = time.monotonic() - t0
        events = collected.events
        ring = engine.ring
        skips = analyzer.skips
        summary = said.getvalue().strip().splitlines()[-1] if said.getvalue().strip() else ""
        gap_end = max((a + b for a, b in skips), default=0)
        after = gap_end + sr // 2

        def found(evs, note):
            return any(isinstance(e, NoteOn) and abs(e.onset_sample - note.onset_sample) < 0.05 * sr
                       and abs(e.pitch - note.pitch) <= 1 for e in evs)

        later = [nt for nt in work.notes if after <= nt.onset_sample < n - sr // 4]
        fresh_an = Analyzer(sr)  # the analyzer started afresh where the audio came back
        fresh = fresh_an.process(y[gap_end:]) + fresh_an.finish() if skips else []
        fresh_abs = [_shifted(e, gap_end) for e in fresh] if skips else reference
        by_ref = [nt for nt in later if found(reference, nt)]
        by_fresh = [nt for nt in later if found(fresh_abs, nt)]
        by_stalled = [nt for nt in later if found(events, nt)]
        runs.append({
            "stall_s": stall_s, "exit_code": code, "overflows": int(ring.dropped_blocks),
            "overflows_shown": f"{ring.dropped_blocks} overflows" in summary,
            "dropped_s": ring.dropped_samples / sr,
            "gaps": len(skips),
            "clock_exact": sum(b for _, b in skips) == ring.dropped_samples
                           and 0 <= n - analyzer.samples_seen < analyzer.hop_length,
            "writer_max_block_ms": source.max_write_s * 1e3,
            "source_wall_over_audio_s": wall - n / sr,
            "notes_in_lost_audio": len(faults.invented_in_gaps(events, skips)),
            "unpaired": len(faults.unpaired(events)),
            "notes_after_recovery": len(later), "found_without_stall": len(by_ref),
            "found_by_fresh_start": len(by_fresh), "found_with_stall": len(by_stalled),
            # what the engine lost: notes the analyzer finds when started afresh where the
            # audio came back, but the stalled run missed
            "lost_after_recovery": len([nt for nt in by_fresh if nt not in by_stalled]),
            "same_as_fresh_start_after_gap": faults.normalized(
                [e for e in events if e.onset_sample >= gap_end], gap_end) == faults.normalized(fresh)
                if skips else None,
        })
        log(f"stall {stall_s} s: {runs[-1]}")
    return {"runs": runs, "audio": work.name}


def _shifted(event, start):
    """``event`` with its sample positions moved by ``start``."""
    from dataclasses import replace

    keys = [k for k in ("onset_sample", "decision_sample", "offset_sample") if hasattr(event, k)]
    return replace(event, **{k: getattr(event, k) + start for k in keys})


# -- soak ----------------------------------------------------------------------------------

def load_default_classifier():
    import argparse as ap

    from rtnote.cli.options import classifier_from_args
    from rtnote.errors import ModelError

    try:
        return classifier_from_args(ap.Namespace(model=None, trust_model=False)), "shipped model"
    except ModelError as exc:
        log(f"soak without families: {exc}")
        return None, "none"


def run_soak(hours, seed):
    from rtnote.analysis.analyzer import Analyzer
    from rtnote.engine import Engine

    classifier, model = load_default_classifier()
    sr = 44100
    t0 = time.monotonic()
    segments = faults.soak_segments(n_segments=8, notes=60, sr=sr, seed=seed)
    plan = faults.soak_plan(segments, hours * 3600, sr=sr, seed=seed)
    alone = {}
    for s, g in sorted(set(plan)):
        a = Analyzer(sr, family_classifier=classifier)
        alone[(s, g)] = faults.normalized(a.process(segments[s] * faults.GAINS[g]) + a.finish())
    prep_s = time.monotonic() - t0
    starts = np.cumsum([0] + [len(segments[s]) for s, _ in plan])
    checker = faults.SegmentChecker(starts, [alone[p] for p in plan])
    analyzer = Analyzer(sr, family_classifier=classifier)
    engine = Engine(analyzer, [checker])
    source = faults.MemorySource((segments[s] * faults.GAINS[g] for s, g in plan), sr)
    trace = []  # (audio seconds, RSS MiB)
    last = [0.0]

    def progress():
        now = time.monotonic()
        if now - last[0] >= 1.0 or not trace:
            last[0] = now
            trace.append((analyzer.samples_seen / sr, faults.rss_mb()))

    t1 = time.perf_counter()
    engine.run(source, on_progress=progress)
    wall = time.perf_counter() - t1
    checker.close()
    trace.append((analyzer.samples_seen / sr, faults.rss_mb()))
    rss = np.array([m for _, m in trace])
    half = rss[len(rss) // 2:]
    stats = engine.stats.summary()
    return {
        "audio_hours": float(starts[-1] / sr / 3600), "repeats": len(plan),
        "segments": len(segments), "segment_seconds": [round(len(s) / sr, 1) for s in segments],
        "model": model, "wall_s": wall, "x_realtime": float(starts[-1] / sr / wall), "prep_s": prep_s,
        "rss_mb": {"start": float(rss[0]), "end": float(rss[-1]), "max": float(rss.max()),
                   "second_half_growth": float(half[-1] - half[0]),
                   "trace": [(round(t, 1), round(m, 1)) for t, m in trace[:: max(1, len(trace) // 60)]]},
        "samples_written": int(starts[-1]), "samples_analyzed": int(analyzer.samples_seen),
        "clock_difference_samples": int(starts[-1] - analyzer.samples_seen),
        "compute": stats, "deadline_misses": stats.get("deadline_misses"),
        "overflows": int(engine.ring.dropped_blocks),
        "repeats_identical": checker.matched, "repeats_different": len(checker.mismatched),
        "notes_expected": checker.notes_expected, "notes_lost": checker.notes_lost,
        "notes_extra": checker.notes_extra, "events": checker.events,
    }


# -- live (JACK) ---------------------------------------------------------------------------

def run_live(minutes):
    out = os.path.join(HERE, "out", "faults_live_soak.json")
    cmd = [sys.executable, os.path.join(HERE, "live_soak.py"), "--minutes", str(minutes), "--realtime", "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=minutes * 60 + 900)
    if proc.returncode not in (0, 1) or not os.path.exists(out):
        return {"error": proc.stderr.strip().splitlines()[-1:] or f"exit {proc.returncode}"}
    with open(out) as f:
        return json.load(f)


# -- JACK helpers --------------------------------------------------------------------------

def jack_parts():
    from rtnote.bench.jackserver import JackClient, JackServer, jack_available

    reason = jack_available()
    if reason:
        raise SystemExit(f"faults.py: {reason}")
    return JackServer, JackClient


def melody_48k(seed, n_notes=16):
    from rtnote.synth import Renderer, random_melody

    notes = random_melody(np.random.default_rng(seed), 55, 79, n_notes, tempo_bpm=110)
    y = Renderer("FluidR3_GM", sr=48000).render(0, notes)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def ended_at_receiver(messages, raw):
    """(note_ons left on, whether "all notes off" came when any note was sent)."""
    stuck = 0
    for i, (_, kind, ch, note, _) in enumerate(messages):
        if kind == "on" and not any(k == "off" and c == ch and n == note
                                    for _, k, c, n, _ in messages[i + 1:]):
            stuck += 1
    all_off = not messages or any(d[0] & 0xF0 == 0xB0 and d[1] == 123 for _, d in raw)
    return stuck, all_off


def ports_of(client):
    return {p.name for p in client.client.get_ports()}


class MidiDump:
    """jack_midi_dump (jackd2's C MIDI monitor) as a second receiver: it does not depend on
    this process getting the GIL in time, so what it misses was not sent."""

    def __init__(self, server, name):
        self.name = name
        self.proc = subprocess.Popen(["jack_midi_dump", "-a", name], env=server.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def stop(self):
        """(note messages as JackClient.note_messages gives them, raw messages as bytes)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        raw = []
        for line in out.splitlines():
            head, _, rest = line.partition(":")
            try:
                data = bytes(int(x, 16) for x in rest.split()[:3])
                raw.append((int(head), data))
            except ValueError:
                continue
        notes = [(f, "on" if d[0] & 0xF0 == 0x90 and d[2] > 0 else "off", d[0] & 0x0F, d[1], d[2])
                 for f, d in raw if d[0] & 0xF0 in (0x80, 0x90) and len(d) == 3]
        return notes, raw


def run_signals(n, n_demo, seed):
    JackServer, JackClient = jack_parts()
    rng = np.random.default_rng(seed)
    y = melody_48k(seed)
    r = {"listen_runs": 0, "demo_runs": 0, "clean": 0, "hangs": 0, "tracebacks": 0,
         "foreign_lines": 0, "unclear_exit": 0, "notes_left_on": 0, "no_all_notes_off": 0,
         "half_written_outputs": 0, "processes_left": 0, "midi_notes_missing": 0,
         "before_the_run": 0, "during_the_run": 0, "problems": [],
         "python_receiver_notes_left_on": 0, "python_receiver_missing": 0,
         "python_receiver_xruns": 0}
    server = JackServer().start()
    tmp = tempfile.mkdtemp(prefix="rtnote-signals-")
    try:
        for i in range(n + n_demo):
            demo = i >= n
            sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
            folder = os.path.join(tmp, f"run{i}")
            os.makedirs(folder)
            outputs = ["-o", os.path.join(folder, "x.mid"), "--events", os.path.join(folder, "x.jsonl"),
                       "--stats", os.path.join(folder, "x.json")]
            client = dump = None
            if demo:
                delay = float(rng.uniform(0.15, 4.0))  # after the interpreter's own start-up
                proc = Proc(["demo", "--view", "none", "--model", "none", *outputs])
                time.sleep(delay)
            else:
                delay = float(rng.uniform(0.3, 6.0))
                client = JackClient(server)
                dump = MidiDump(server, f"rtnote-dump{i}")
                xruns0 = client.xruns
                proc = Proc(["listen", "--view", "none", "--model", "none", "--midi-out",
                             "--midi-api", "jack", *outputs], env=server.env)
                t_sig = time.monotonic() + delay
                connected = dumping = False
                while time.monotonic() < t_sig:
                    if not connected and {"rtnote-in:in_0", "rtnote:rtnote"} <= ports_of(client):
                        try:
                            client.connect_rtnote(midi_port="rtnote:rtnote", timeout=1.0)
                            connected = True
                        except Exception:  # noqa: BLE001 - rtnote may be just going
                            pass
                    if connected and not dumping:
                        try:
                            client.client.connect("rtnote:rtnote", f"{dump.name}:input")
                            dumping = True
                            client.play(y, delay_s=0.05)  # once both receivers listen
                        except Exception:  # noqa: BLE001 - the monitor is not up yet
                            pass
                    time.sleep(0.01)
            proc.proc.send_signal(sig)
            code = proc.wait(30, resend=sig)
            time.sleep(0.1)
            messages, raw = dump.stop() if dump else ([], [])
            py_messages = client.note_messages() if client else []
            receiver_xruns = client.xruns - xruns0 if client else 0
            if client:
                client.close()
            err = proc.stderr
            problems = []
            if code is None:
                r["hangs"] += 1
                problems.append("hang")
                problems.append(f"stuck in: {proc.stuck}")
            if "Traceback" in err:
                r["tracebacks"] += 1
                problems.append("traceback")
            if foreign_lines(err):
                r["foreign_lines"] += 1
                problems.append(f"foreign lines: {foreign_lines(err)[:2]}")
            if code == 0 and f"stopped by {sig.name}" in err:
                r["during_the_run"] += 1
            elif code == 128 + sig and err.strip().endswith(f"rtnote: interrupted ({sig.name})"):
                r["before_the_run"] += 1
            elif code == 0 and demo and " notes in " in err:
                r["during_the_run"] += 1  # the demo ended before the signal
            else:
                r["unclear_exit"] += 1
                problems.append(f"exit {code}: {err.strip()[-200:]}")
            stuck, all_off = ended_at_receiver(messages, raw)
            r["notes_left_on"] += stuck
            r["no_all_notes_off"] += not all_off
            whole, pitches = outputs_whole(folder, "x")
            r["half_written_outputs"] += not whole
            missing = 0
            if pitches is not None and not demo:
                got = [note for _, k, _, note, _ in messages if k == "on"]
                missing = max(0, len(pitches) - len(got))
                r["midi_notes_missing"] += missing
                if missing:
                    problems.append(f"events file {pitches}, receiver {got}; stats "
                                    f"{open(os.path.join(folder, 'x.json')).read()[:400]}")
            left = proc.left_behind()
            r["processes_left"] += bool(left)
            r["demo_runs" if demo else "listen_runs"] += 1
            py_stuck, py_all_off = ended_at_receiver(py_messages, list(client.midi) if client else [])
            r["python_receiver_notes_left_on"] += py_stuck
            r["python_receiver_missing"] += max(0, len([m for m in messages if m[1] == "on"])
                                                - len([m for m in py_messages if m[1] == "on"]))
            r["python_receiver_xruns"] += receiver_xruns
            if problems or stuck or not all_off or not whole or left or missing:
                r["problems"].append({"run": i, "demo": demo, "signal": sig.name,
                                      "delay_s": round(delay, 2), "problems": problems,
                                      "stuck": stuck, "whole": whole, "left": left,
                                      "xruns": receiver_xruns})
            else:
                r["clean"] += 1
            log(f"signals: run {i + 1}/{n + n_demo} ({'demo' if demo else 'listen'}, "
                f"{sig.name} at {delay:.2f} s): exit {code}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return r


def run_servers(n, seed):
    JackServer, JackClient = jack_parts()
    rng = np.random.default_rng(seed)
    r = {"runs": 0, "restarted": 0, "clean": 0, "hangs": 0, "problems": [],
         "new_rtnote_on_restarted_server_ok": 0}
    t = np.arange(4 * 48000) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    tmp = tempfile.mkdtemp(prefix="rtnote-servers-")
    for i in range(n):
        restart = i % 2 == 1
        folder = os.path.join(tmp, f"run{i}")
        os.makedirs(folder)
        server = JackServer().start()
        try:
            proc = Proc(["listen", "--view", "none", "--model", "none", "--midi-out", "--midi-api",
                         "jack", "-o", os.path.join(folder, "x.mid"), "--events",
                         os.path.join(folder, "x.jsonl")], env=server.env)
            client = JackClient(server)
            deadline = time.monotonic() + 30
            while not {"rtnote-in:in_0", "rtnote:rtnote"} <= ports_of(client):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            client.connect_rtnote(midi_port="rtnote:rtnote")
            client.play(tone, delay_s=0.05)
            time.sleep(float(rng.uniform(0.3, 2.0)))
            client.close()
            server.stop()
            if restart:
                server.start()
                r["restarted"] += 1
            code = proc.wait(30)
            err = proc.stderr
            ok = (code == 1 and err.count("rtnote: error:") == 1 and "Traceback" not in err
                  and ("audio input stopped" in err or "audio input stalled" in err)
                  and not foreign_lines(err) and outputs_whole(folder, "x")[0]
                  and not proc.left_behind())
            if code is None:
                r["hangs"] += 1
            if restart and code is not None:
                again = Proc(["listen", "--view", "none", "--model", "none"], env=server.env)
                time.sleep(2.0)
                again.proc.send_signal(signal.SIGINT)
                r["new_rtnote_on_restarted_server_ok"] += again.wait(30) == 0
            r["runs"] += 1
            r["clean"] += ok
            if not ok:
                r["problems"].append({"run": i, "exit": code, "stderr": err[-300:]})
            log(f"server: run {i + 1}/{n} (restart {restart}): exit {code}")
        finally:
            server.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return r


def run_receivers(n, seed):
    JackServer, JackClient = jack_parts()
    r = {"virtual_port_runs": 0, "existing_port_runs": 0, "clean": 0, "hangs": 0,
         "notes_left_on": 0, "problems": []}
    t = np.arange(6 * 48000) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t / 0.005)).astype(np.float32)
    server = JackServer().start()
    try:
        for i in range(n):
            virtual = i % 2 == 0
            if virtual:
                player = JackClient(server, name="rtnote-player")
                proc = Proc(["listen", "--view", "none", "--model", "none", "--midi-out",
                             "--midi-api", "jack"], env=server.env)
                deadline = time.monotonic() + 30
                while not {"rtnote-in:in_0", "rtnote:rtnote"} <= ports_of(player):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                player.connect_rtnote(midi_port="rtnote:rtnote")
                player.play(tone, delay_s=0.05)
                deadline = time.monotonic() + 6
                while not any(k == "on" for _, k, *_ in player.note_messages()) and time.monotonic() < deadline:
                    time.sleep(0.01)
                player.client.disconnect("rtnote:rtnote", player.midi_in)
                time.sleep(0.3)
                daw = JackClient(server, name="rtnote-daw")
                daw.client.connect("rtnote:rtnote", daw.midi_in)
                time.sleep(0.3)
                proc.proc.send_signal(signal.SIGINT)
                code = proc.wait(30)
                time.sleep(0.1)
                raw = list(daw.midi)
                player.close()
                daw.close()
                ended = any(d[0] == 0x80 and d[1] == 69 for _, d in raw)
                all_off = any(d[0] == 0xB0 and d[1] == 123 for _, d in raw)
                r["notes_left_on"] += not ended
                ok = code == 0 and ended and all_off and "rtnote: error" not in proc.stderr
                r["virtual_port_runs"] += 1
            else:
                receiver = JackClient(server, name="rtnote-receiver")
                proc = Proc(["listen", "--view", "none", "--model", "none", "--midi-port",
                             "rtnote-receiver:midi_in", "--midi-api", "jack"], env=server.env)
                deadline = time.monotonic() + 30
                while "rtnote-in:in_0" not in ports_of(receiver) and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.3)
                receiver.close()
                code = proc.wait(30)
                ok = (code == 1 and "MIDI port rtnote-receiver:midi_in went away" in proc.stderr
                      and "Traceback" not in proc.stderr and not foreign_lines(proc.stderr))
                r["existing_port_runs"] += 1
            if code is None:
                r["hangs"] += 1
            ok = ok and not proc.left_behind()
            r["clean"] += ok
            if not ok:
                r["problems"].append({"run": i, "virtual": virtual, "exit": code,
                                      "stderr": proc.stderr[-300:]})
            log(f"receiver: run {i + 1}/{n} ({'virtual port' if virtual else '--midi-port'}): exit {code}")
    finally:
        server.stop()
    return r


# -- settings and models -------------------------------------------------------------------

def run_settings():
    import shlex

    import soundfile

    tmp = tempfile.mkdtemp(prefix="rtnote-settings-")
    wav = os.path.join(tmp, "t.wav")
    y, sr = faults.test_signal()
    soundfile.write(wav, y, sr)
    env = dict(os.environ, JACK_NO_START_SERVER="1", JACK_DEFAULT_SERVER="rtnote-none")
    r = {"cases": 0, "one_line": 0, "problems": []}
    for command, args in faults.NONSENSE_SETTINGS:
        argv = [command, *shlex.split(args.format(wav=wav, tmp=tmp))]
        if command in ("listen", "demo") and "--model" not in argv:
            argv += ["--model", "none"]
        proc = Proc(argv, env=env)
        code = proc.wait(120)
        lines = proc.stderr.strip().splitlines()
        ok = code not in (0, None) and len(lines) == 1 and lines[0].startswith("rtnote: error: ")
        r["cases"] += 1
        r["one_line"] += ok
        if not ok:
            r["problems"].append({"case": f"{command} {args}", "exit": code, "stderr": proc.stderr[-300:]})
    for model_case in run_models(tmp, wav, env):
        r["cases"] += 1
        r["one_line"] += model_case["ok"]
        if not model_case["ok"]:
            r["problems"].append(model_case)
    shutil.rmtree(tmp, ignore_errors=True)
    return r


def run_models(tmp, wav, env):
    out = []
    for name, (path, extra) in faults.damaged_models(tmp).items():
        for command in ("transcribe", "demo", "listen"):
            args = [wav, "-o", os.path.join(tmp, "m.mid")] if command == "transcribe" else ["--view", "none"]
            proc = Proc([command, *args, "--model", path, *extra], env=env)
            code = proc.wait(120)
            lines = proc.stderr.strip().splitlines()
            ok = code == 1 and len(lines) == 1 and lines[0].startswith("rtnote: error: ")
            out.append({"case": f"model {name} via {command}", "ok": ok, "exit": code,
                        "stderr": proc.stderr[-300:] if not ok else ""})
    return out


# -- report --------------------------------------------------------------------------------

def to_markdown(r):
    lines = ["## Faults, hostile input and long runs", "",
             f"`{r.get('command', 'python benchmarks/faults.py')}` — {r['date']}, {r['machine']}, "
             f"Python {r['python']}, load average {r['load_average_start']:.1f} at start, "
             f"{r['load_average_end']:.1f} at end (the machine is shared)."]
    lines += [f"Rerun later, `{rerun['command']}`: {rerun['date']}, load average "
              f"{rerun['load_average_start']:.1f} at start, {rerun['load_average_end']:.1f} at end."
              for rerun in r.get("reruns", [])]
    lines.append("")
    h = r["headline"]
    lines += ["| figure | value | target |", "| --- | --- | --- |"]
    for label, value, target in (
            ("hours soaked (as fast as possible)", f"{h['hours_soaked']:.2f}", ">= 1"),
            ("minutes soaked live through JACK", f"{h['live_minutes']:.1f}", ">= 10"),
            ("faults injected", h["faults_injected"], ""),
            ("inputs fuzzed", h["inputs_fuzzed"], ""),
            ("notes lost", h["notes_lost"], "0"),
            ("notes left on at a MIDI receiver", h["notes_left_on"], "0"),
            ("notes placed in lost audio", h["notes_in_lost_audio"], "0"),
            ("sample clock against the samples written, soak [samples]", h["soak_clock_difference"], "0"),
            ("sample clock against the server's frames, live through JACK [samples of drift]",
             h["live_clock_drift"], "within +-128 (a hop: the grid's phase)"),
            ("deadline misses, soak as fast as possible", h["soak_deadline_misses"], "0"),
            ("deadline misses, live through JACK (default settings)", h["live_deadline_misses"], "0"),
            ("crashes (tracebacks or lines not rtnote's)", h["crashes"], "0"),
            ("hangs", h["hangs"], "0"),
            ("half-written outputs or processes left", h["half_written_or_left"], "0")):
        lines.append(f"| {label} | {value} | {target} |")
    if "fuzz" in r:
        f = r["fuzz"]
        lines += ["", f"**Fuzz** ({', '.join(f['formats'])}): {f['inputs']} damaged inputs in {f['batches']} "
                  f"`rtnote transcribe --out-dir` batches, each with a good file: {f['read']} read (damage "
                  f"the decoder tolerates), {f['errors']} refused with one `rtnote: error:` line, "
                  f"{f['warnings']} warnings (decoder complaints, one line); {f['not_one_line']} inputs "
                  f"without exactly one line, {f['tracebacks']} tracebacks, {f['foreign_lines']} lines not "
                  f"rtnote's, {f['hangs']} hangs, {f['good_file_missed']} good files missed, "
                  f"{f['temp_files_left']} temp files left; slowest batch {f['slowest_batch_s']:.0f} s."]
    if "stall" in r:
        lines += ["", "**Stalled worker** (paced source, default 2 s ring, 256-sample blocks, stall at 3 s):", "",
                  "| stall | overflows (shown) | audio lost | clock exact | writer's longest write | notes in lost audio | unpaired | notes after recovery: found with the stall / by a fresh start there / without the stall | events = a fresh start's |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for s in r["stall"]["runs"]:
            lines.append(f"| {s['stall_s']:g} s | {s['overflows']} ({'yes' if s['overflows_shown'] else 'NO'}) | "
                         f"{s['dropped_s']:.2f} s | {'yes' if s['clock_exact'] else 'NO'} | "
                         f"{s['writer_max_block_ms']:.2f} ms | {s['notes_in_lost_audio']} | {s['unpaired']} | "
                         f"{s['found_with_stall']} / {s['found_by_fresh_start']} / {s['found_without_stall']} "
                         f"of {s['notes_after_recovery']} | "
                         f"{s['same_as_fresh_start_after_gap']} |")
    if "soak" in r:
        s = r["soak"]
        c = s["compute"]
        lines += ["", f"**Soak**: {s['audio_hours']:.2f} h of music ({s['segments']} rendered FluidR3_GM phrases "
                  f"of {min(s['segment_seconds']):.0f}-{max(s['segment_seconds']):.0f} s at 3 levels, {s['repeats']} "
                  f"repeats in a seeded order), family model: {s['model']}, in {s['wall_s']:.0f} s "
                  f"({s['x_realtime']:.0f}x real time). Resident memory {s['rss_mb']['start']:.0f} MiB at the start, "
                  f"{s['rss_mb']['end']:.0f} MiB at the end (max {s['rss_mb']['max']:.0f}, "
                  f"{s['rss_mb']['second_half_growth']:+.1f} MiB over the second half). Samples written "
                  f"{s['samples_written']}, analyzed {s['samples_analyzed']} (difference "
                  f"{s['clock_difference_samples']}). Compute per hop median {c.get('median_ms', 0):.3f} ms, "
                  f"p99 {c.get('p99_ms', 0):.3f} ms, max {c.get('max_ms', 0):.2f} ms (budget "
                  f"{c['budget_ms']:.2f} ms), {s['deadline_misses']} deadline misses. "
                  f"{s['repeats_identical']} of {s['repeats']} repeats gave exactly the events of their "
                  f"audio run alone; {s['notes_lost']} of {s['notes_expected']} notes lost, "
                  f"{s['notes_extra']} extra."]
    if "live" in r:
        v = r["live"]
        if "error" in v:
            lines += ["", f"**Live soak through JACK** failed: {v['error']}"]
        else:
            d = v.get("clock_drift") or {}
            rss = v.get("rtnote_rss_mb") or {}
            lat = v.get("e2e_latency_ms") or {}
            held = v.get("rtnote_note_on_held_ms") or {}
            lines += ["", f"**Live soak through JACK** (benchmarks/live_soak.py, dummy driver, {v['sr']} Hz, "
                      f"-p {v['jack_period']}, realtime {v['realtime']}): {v['played_s'] / 60:.1f} min played, "
                      f"exit {v['exit_code']}; {v['notes_found_within_0.5s']} of {v['notes_played']} notes "
                      f"arrived as MIDI within 0.5 s (end-to-end median {lat.get('median', float('nan')):.1f} ms; "
                      f"a note_on waited {held.get('median', float('nan')):.1f} ms median, "
                      f"p99 {held.get('p99', float('nan')):.1f} ms, for its family from the classifier process); "
                      f"rtnote's memory {rss.get('start') or float('nan'):.0f} MiB at the start, "
                      f"{rss.get('end') or float('nan'):.0f} MiB at the end; clock drift "
                      f"{d.get('drift_samples', 'n/a')} samples (live note onsets against the same audio analyzed as "
                      f"a file, first tenth vs last tenth of {d.get('notes_matched', 0)} notes; cycles the server ran "
                      f"without rtnote's input, {v.get('rtnote_missed_samples', 'n/a')} samples, are put back on its clock "
                      f"and spliced over); {v['rtnote_dropped_cycles']} dropped cycles, {v['xruns_at_player_client']} "
                      f"xruns at the player, {v['rtnote_ring_overflows']} overflows, "
                      f"{v['rtnote_deadline_misses']} deadline misses ("
                      f"{v['rtnote_compute_per_hop'].get('deadline_misses_off_cpu', 'n/a')} of them spent "
                      f"mostly off the CPU: the worker was waiting; load average "
                      f"{v['load_average_1min_at_end']:.1f} at the end, CPU stolen by the hypervisor "
                      f"{v.get('cpu_stolen_pct', 'n/a')}%{same_work_text(v.get('same_work_cpu_ms'))}). Clients jackd found "
                      f"unfinished at its xruns: {late_clients_text(v.get('late_clients'))}."
                      + late_steps_text(v.get("rtnote_late_steps") or [])]
    if "signals" in r:
        g = r["signals"]
        lines += ["", f"**Signals**: SIGINT/SIGTERM in turn at random moments of {g['listen_runs']} "
                  f"`rtnote listen --midi-out` runs on JACK (a melody playing, a receiver connected as soon "
                  f"as the ports appear) and {g['demo_runs']} `rtnote demo` runs, with -o/--events/--stats: "
                  f"{g['clean']} clean ({g['during_the_run']} stopped during the run, {g['before_the_run']} "
                  f"interrupted before it), {g['hangs']} hangs, {g['tracebacks']} tracebacks, "
                  f"{g['unclear_exit']} unclear exits, {g['notes_left_on']} notes left on, "
                  f"{g['no_all_notes_off']} runs without 'all notes off', {g['midi_notes_missing']} notes "
                  f"missing at the receiver, {g['half_written_outputs']} half-written outputs, "
                  f"{g['processes_left']} runs leaving a process. MIDI is counted at jack_midi_dump (a C "
                  f"client); the Python test client beside it saw {g['python_receiver_xruns']} xruns and "
                  f"missed {g['python_receiver_missing']} note_ons, {g['python_receiver_notes_left_on']} "
                  f"note_offs (its callback waits for the GIL: a receiver artefact, not rtnote's)."]
    if "server" in r:
        v = r["server"]
        lines += ["", f"**JACK server stopping**: {v['runs']} runs ({v['restarted']} with the server back at "
                  f"once under the same name): {v['clean']} clean exits with one error line, {v['hangs']} hangs; "
                  f"a new rtnote ran on {v['new_rtnote_on_restarted_server_ok']} of the restarted servers."]
    if "receiver" in r:
        v = r["receiver"]
        lines += ["", f"**MIDI receiver going away**: {v['virtual_port_runs']} runs where the DAW leaves the "
                  f"virtual port mid-note and another connects (it gets the note_off and 'all notes off'), "
                  f"{v['existing_port_runs']} where the --midi-port target vanishes (rtnote ends, one line): "
                  f"{v['clean']} clean, {v['hangs']} hangs, {v['notes_left_on']} notes left on."]
    if "settings" in r:
        v = r["settings"]
        lines += ["", f"**Nonsense settings and damaged model files**: {v['cases']} cases over every command: "
                  f"{v['one_line']} refused with exactly one `rtnote: error:` line and a non-zero exit."]
    return "\n".join(lines)


def headline(r):
    h = {"hours_soaked": r.get("soak", {}).get("audio_hours", 0.0),
         "live_minutes": (r.get("live", {}).get("played_s", 0.0) or 0.0) / 60,
         "inputs_fuzzed": r.get("fuzz", {}).get("inputs", 0)}
    stall_runs = r.get("stall", {}).get("runs", [])
    g, sv, rc, st = (r.get(k, {}) for k in ("signals", "server", "receiver", "settings"))
    h["faults_injected"] = (len(stall_runs) + g.get("listen_runs", 0) + g.get("demo_runs", 0)
                            + sv.get("runs", 0) + rc.get("virtual_port_runs", 0)
                            + rc.get("existing_port_runs", 0) + st.get("cases", 0))
    h["notes_lost"] = (r.get("soak", {}).get("notes_lost", 0) + g.get("midi_notes_missing", 0)
                       + sum(s["lost_after_recovery"] for s in stall_runs))
    h["notes_left_on"] = g.get("notes_left_on", 0) + rc.get("notes_left_on", 0)
    h["notes_in_lost_audio"] = sum(s["notes_in_lost_audio"] for s in stall_runs)
    h["soak_deadline_misses"] = r.get("soak", {}).get("deadline_misses", 0)
    h["soak_clock_difference"] = r.get("soak", {}).get("clock_difference_samples", "n/a")
    h["live_clock_drift"] = (r.get("live", {}).get("clock_drift") or {}).get("drift_samples", "n/a")
    h["live_deadline_misses"] = r.get("live", {}).get("rtnote_deadline_misses", 0)
    f = r.get("fuzz", {})
    h["crashes"] = (f.get("tracebacks", 0) + f.get("foreign_lines", 0) + g.get("tracebacks", 0)
                    + g.get("foreign_lines", 0))
    h["hangs"] = f.get("hangs", 0) + g.get("hangs", 0) + sv.get("hangs", 0) + rc.get("hangs", 0)
    h["half_written_or_left"] = (f.get("temp_files_left", 0) + g.get("half_written_outputs", 0)
                                 + g.get("processes_left", 0))
    return h


def main(argv=None):
    faults.let_sigint_reach_children()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, to try the script")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"sections to run, comma-separated (default all: {','.join(SECTIONS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true",
                        help="keep the other sections of benchmarks/out/faults.json: rerun only "
                             "those of --only")
    parser.add_argument("--no-results", action="store_true",
                        help="do not write the section of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    counts = QUICK if args.quick else FULL
    path = os.path.join(HERE, "out", "faults.json")
    run = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "python": platform.python_version(), "load_average_start": os.getloadavg()[0],
           "counts": {k: list(v) if isinstance(v, tuple) else v for k, v in counts.items()},
           "command": " ".join(["python benchmarks/faults.py", *(sys.argv[1:] if argv is None else argv)])}
    if args.keep and os.path.exists(path):
        with open(path) as f:
            r = json.load(f)
        r.setdefault("reruns", []).append(run)
    else:
        r = run
    t0 = time.monotonic()
    if "fuzz" in only:
        r["fuzz"] = run_fuzz(counts["fuzz"], args.seed)
    if "stall" in only:
        r["stall"] = run_stalls(counts["stalls"], args.seed)
    if "soak" in only:
        r["soak"] = run_soak(counts["soak_hours"], args.seed)
        log(f"soak: {json.dumps({k: v for k, v in r['soak'].items() if k != 'rss_mb'})}")
    if "live" in only:
        r["live"] = run_live(counts["live_minutes"])
    if "signals" in only:
        r["signals"] = run_signals(counts["signals"], counts["demo_signals"], args.seed)
    if "server" in only:
        r["server"] = run_servers(counts["servers"], args.seed)
    if "receiver" in only:
        r["receiver"] = run_receivers(counts["receivers"], args.seed)
    if "settings" in only or "models" in only:
        r["settings"] = run_settings()
    run["load_average_end"] = os.getloadavg()[0]
    run["wall_s"] = time.monotonic() - t0
    r["headline"] = headline(r)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(path, "w") as f:
        json.dump(r, f, indent=1, default=float)
    markdown = to_markdown(r)
    if not args.no_results:
        from accuracy import write_results_section

        write_results_section("faults", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    random.seed(0)
    sys.exit(main())
