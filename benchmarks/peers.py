"""rtnote beside its peers on the validation soundfont's melodies (TimGM6mb): the same
audio, the same scorer, the same machine, one run.

    nice python benchmarks/peers.py [--melodies 1] [--quick] [--no-pyin]

Peers:
- aubio's ``notes`` (pip aubio), default method, buffer 512 / hop 256 samples (the settings of
  aubio's own ``aubionotes`` and ``demo_notes.py``), fed hop by hop. Its decision sample is
  the end of the hop in which a note came out; its onset is where its own onset detector
  (a twin ``aubio.onset`` object fed the same hops, same silence threshold) placed it --
  aubio's notes object emits a note exactly ``median - 1 = 5`` hops after that onset.
- librosa's ``pyin`` (frame 4096, hop 512, 38-4400 Hz) with ``onset_detect`` (hop 512): notes
  are the onsets, each with the median voiced pitch up to the next onset. Both look at the
  whole file (pyin's Viterbi pass is over all of it): an offline method has no decision
  time, so its latency and per-hop compute are not defined.
- rtnote (the given latency setting, no family model), fed hop by hop (128 samples), and
  again in its file mode (up to 64 hops per call) for the throughput, with the same events.

Scoring: :func:`rtnote.bench.measure.match_notes` (mir_eval, onset within 50 ms, pitch
within 50 cents, offsets ignored: the rules of rtnote.evaluation.score_notes). Latency =
decision sample - true onset sample, by register. The octave-ambiguous programs (16-19,
31, 47, 86) are left out, as in benchmarks/accuracy.py. Compute per hop is wall time per
call; throughput is audio time / CPU time of the whole analysis, one thread (rtnote: file
mode).

Writes benchmarks/out/peers.json and the "peers" section of benchmarks/RESULTS.md. The
machine is shared: speed figures are noisy; compare them as ratios from one run.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from accuracy import PROGRAMS, SR, melody_set, write_results_section  # noqa: E402

from rtnote.analysis.analyzer import Analyzer, Settings  # noqa: E402
from rtnote.bench.measure import REGISTERS, Health, LatencyFigure, match_notes  # noqa: E402
from rtnote.bench.workload import RefNote  # noqa: E402
from rtnote.events import NoteOff, NoteOn  # noqa: E402
from rtnote.families import OCTAVE_AMBIGUOUS_PROGRAMS  # noqa: E402


class Rtnote:
    """rtnote's analyzer fed one hop at a time."""

    streaming = True

    def __init__(self, latency="balanced"):
        self.settings = Settings(latency=latency)
        self.hop = Analyzer(SR, self.settings).hop_length
        self.name = f"rtnote ('{latency}')"
        self.config = f"hop {self.hop}, latency setting '{latency}', no family model"

    def run(self, y):
        analyzer = Analyzer(SR, self.settings)
        hop = self.hop
        n = len(y) // hop
        per_hop = np.empty(n)
        events = []
        for i in range(n):
            t = time.perf_counter()
            events += analyzer.process(y[i * hop:(i + 1) * hop])
            per_hop[i] = time.perf_counter() - t
        events += analyzer.finish()
        return events, per_hop

    def run_file(self, y):
        """As ``transcribe`` runs it: up to 64 hops per step (the engine's file mode); the
        events are the hop-by-hop run's."""
        analyzer = Analyzer(SR, self.settings)
        step = 64 * self.hop
        usable = len(y) // self.hop * self.hop
        events = []
        for i in range(0, usable, step):
            events += analyzer.process(y[i:min(i + step, usable)])
        return events + analyzer.finish()


class AubioNotes:
    """aubio.notes fed one hop at a time; onsets from a twin aubio.onset."""

    streaming = True

    def __init__(self, buf=512, hop=256):
        import aubio

        self.aubio = aubio
        self.buf, self.hop = buf, hop
        self.name = "aubio notes"
        self.config = f"aubio {aubio.version}, method 'default', buffer {buf}, hop {hop}"

    def run(self, y):
        aubio, hop = self.aubio, self.hop
        notes = aubio.notes("default", self.buf, hop, SR)
        onset = aubio.onset("default", self.buf, hop, SR)
        onset.set_silence(notes.get_silence())
        n = len(y) // hop
        per_hop = np.empty(n)
        events, last_onset, sounding, note_id = [], 0, None, 0
        y = np.ascontiguousarray(y, dtype=np.float32)
        for i in range(n):
            x = y[i * hop:(i + 1) * hop]
            t = time.perf_counter()
            out = notes(x)
            per_hop[i] = time.perf_counter() - t
            if onset(x)[0]:
                last_onset = int(onset.get_last())
            end = (i + 1) * hop  # samples consumed: the decision sample
            if out[2] > 0 and sounding is not None and int(round(out[2])) == sounding.pitch:
                events.append(NoteOff(sounding.note_id, sounding.onset_sample, i * hop, end, SR,
                                      sounding.pitch))
                sounding = None
            if out[0] > 0:
                if sounding is not None:
                    events.append(NoteOff(sounding.note_id, sounding.onset_sample, i * hop, end,
                                          SR, sounding.pitch))
                sounding = NoteOn(note_id, min(last_onset, end), end, SR, int(round(out[0])), 0.0,
                                  int(min(127, max(1, out[1]))))
                events.append(sounding)
                note_id += 1
        if sounding is not None:
            events.append(NoteOff(sounding.note_id, sounding.onset_sample, len(y), len(y), SR,
                                  sounding.pitch))
        return events, per_hop


class PyinOnsets:
    """librosa.pyin + librosa.onset.onset_detect on the whole file."""

    streaming = False

    def __init__(self, frame_length=4096, hop=512):
        import librosa

        self.librosa = librosa
        self.frame_length, self.hop = frame_length, hop
        self.name = "librosa pyin + onset_detect"
        self.config = (f"librosa {librosa.__version__}, pyin frame {frame_length}, hop {hop}, "
                       "38-4400 Hz; onset_detect hop 512")
        self.run(np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32))  # JIT warm-up

    def run(self, y):
        librosa, hop = self.librosa, self.hop
        f0, voiced, _ = librosa.pyin(y, fmin=38.0, fmax=4400.0, sr=SR,
                                     frame_length=self.frame_length, hop_length=hop)
        onsets = librosa.onset.onset_detect(y=y, sr=SR, hop_length=hop, units="samples")
        frame_at = np.arange(len(f0)) * hop  # centred frames: frame k is around sample k*hop
        bounds = list(onsets) + [len(y)]
        events = []
        for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
            inside = (frame_at >= start) & (frame_at < stop) & voiced & np.isfinite(f0)
            if inside.sum() < 3:
                continue
            pitch = int(round(float(np.median(librosa.hz_to_midi(f0[inside])))))
            last = int(frame_at[inside][-1]) + hop
            events.append(NoteOn(k, int(start), len(y), SR, pitch, 0.0, 100))
            events.append(NoteOff(k, int(start), min(last, int(stop)), len(y), SR, pitch))
        return events, None


def evaluate(method, melodies):
    """Score one method on every melody: counts, latencies by register, compute."""
    rows, latency, pitch, per_hop = [], [], [], []
    cpu = 0.0
    audio_s = 0.0
    for program, notes, y in track(melodies, description=method.name):
        t = time.process_time()
        events, hops = method.run(y)
        cpu_run = time.process_time() - t
        if hasattr(method, "run_file"):  # throughput in file mode, same events
            t = time.process_time()
            if method.run_file(y) != events:
                raise SystemExit(f"peers.py: {method.name}: file mode gave other events")
            cpu_run = time.process_time() - t
        cpu += cpu_run
        audio_s += len(y) / SR
        refs = [RefNote(int(round(n.onset_s * SR)), int(round(n.offset_s * SR)), n.pitch) for n in notes]
        match = match_notes(refs, events, SR)
        if program in OCTAVE_AMBIGUOUS_PROGRAMS:
            continue
        rows.append((match.n_ref, match.n_est, match.matched))
        if hops is not None:
            per_hop.append(hops)
        for i, on in match.pairs:
            latency.append((on.decision_sample - refs[i].onset_sample) / SR)
            pitch.append(refs[i].pitch)
    n_ref, n_est, n_match = (sum(r[k] for r in rows) for k in range(3))
    p, r = n_match / max(1, n_est), n_match / max(1, n_ref)
    out = {"name": method.name, "config": method.config, "streaming": method.streaming,
           "notes": {"reference": n_ref, "reported": n_est, "matched": n_match,
                     "precision": p, "recall": r, "f1": 2 * p * r / max(1e-12, p + r)},
           "cpu_s": cpu, "audio_s": audio_s, "throughput_x_realtime": audio_s / cpu}
    if method.streaming:
        hops = np.concatenate(per_hop)
        budget = method.hop / SR
        health = Health(deadline_misses=int(np.sum(hops > budget)))
        fig = LatencyFigure(np.array(latency), health)
        pitch = np.array(pitch)
        out.update(
            hop_samples=method.hop, budget_ms=budget * 1e3,
            compute_per_hop_ms={"median": float(np.median(hops) * 1e3),
                                "p99": float(np.percentile(hops, 99) * 1e3),
                                "max": float(hops.max() * 1e3), "hops": int(len(hops))},
            p99_of_budget=float(np.percentile(hops, 99) / budget),
            health=health.as_dict(), latency=fig.as_dict(),
            latency_by_register={name: fig.subset((pitch >= lo) & (pitch < hi)).as_dict()
                                 for name, lo, hi in REGISTERS})
    return out


def versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "librosa", "mir_eval", "pyfluidsynth"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    try:
        import aubio

        out["aubio"] = str(aubio.version)
    except ImportError:
        out["aubio"] = None
    from rtnote import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                                capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "../rtnote"], cwd=HERE,
                               text=True, capture_output=True).stdout.strip()
        if commit and dirty:
            commit += " + uncommitted changes"
    except OSError:
        commit = ""
    out["rtnote"] = f"{__version__} ({commit})" if commit else __version__
    return out


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores ({platform.machine()}, {platform.system()})"


def _ms(x):
    return "--" if x is None else f"{x:.1f} ms"


def _ratio(a, b, fmt="{:.2f}x"):
    return "--" if a is None or b is None or b == 0 else fmt.format(a / b)


def to_markdown(r, command):
    methods = r["methods"]
    rt = methods[0]
    regs = [name for name, _, _ in REGISTERS]
    lines = [
        "## rtnote beside its peers (validation soundfont TimGM6mb)", "",
        f"`{command}` -- {r['date']}; {r['machine']}; load average {r['load_start']:.1f} at start, "
        f"{r['load_end']:.1f} at end; " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        "",
        f"Same audio for every method: {r['melodies']} melodies of 16 notes (benchmarks/accuracy.py's "
        f"`melody_set`, seed 0; octave-ambiguous programs left out of the scores: {rt['notes']['reference']} "
        f"notes; {r['audio_s']:.0f} s of audio in all). Scorer: mir_eval, onset 50 ms, pitch 50 cents, offsets ignored "
        "(`rtnote.bench.measure.match_notes`). Latency = decision sample - true onset, of matched notes. "
        "Compute per hop: wall time of each call, fed hop by hop; throughput: audio time / CPU time, one thread "
        "(rtnote in its file mode, up to 64 hops per call, checked to give the hop-by-hop events; the "
        "others as they are run for the other columns). "
        "The machine is shared with other jobs: speed figures are noisy; read them as ratios within this run.",
        "",
        "| method | settings | note F1 | precision | recall | " + " | ".join(f"median latency {g}" for g in regs)
        + " | compute p99 per hop (of its hop) | deadline misses | throughput |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in regs) + " | --- | --- | --- |",
    ]
    for m in methods:
        n = m["notes"]
        if m["streaming"]:
            lat = [m["latency_by_register"][g] for g in regs]
            lat_cells = [f"{_ms(x['median_ms'])} (n={x['notes']})" if x["notes"] else "no matched notes"
                         for x in lat]
            comp = (f"{m['compute_per_hop_ms']['p99']:.3f} ms ({100 * m['p99_of_budget']:.0f}% of "
                    f"{m['budget_ms']:.2f} ms)")
            misses = f"{m['health']['deadline_misses']} of {m['compute_per_hop_ms']['hops']} hops"
        else:
            lat_cells = ["offline (whole file)"] * len(regs)
            comp, misses = "offline", "--"
        lines.append(f"| {m['name']} | {m['config']} | {n['f1']:.3f} | {n['precision']:.3f} | "
                     f"{n['recall']:.3f} | " + " | ".join(lat_cells)
                     + f" | {comp} | {misses} | {m['throughput_x_realtime']:.1f}x |")
    lines += ["", "Ratios (rtnote / peer for F1 and throughput; peer / rtnote for latency and for the "
              "share of the hop budget used, so > 1 favours rtnote):", "",
              "| peer | F1 | " + " | ".join(f"latency {g}" for g in regs) + " | compute p99 share | throughput |",
              "| --- | --- | " + " | ".join("---" for _ in regs) + " | --- | --- |"]
    for m in methods[1:]:
        cells = [_ratio(rt["notes"]["f1"], m["notes"]["f1"])]
        for g in regs:
            if m["streaming"]:
                a = m["latency_by_register"][g]["median_ms"]
                cells.append(_ratio(a, rt["latency_by_register"][g]["median_ms"]))
            else:
                cells.append("offline")
        cells.append(_ratio(m["p99_of_budget"], rt["p99_of_budget"]) if m["streaming"] else "offline")
        cells.append(_ratio(rt["throughput_x_realtime"], m["throughput_x_realtime"]))
        lines.append(f"| {m['name']} | " + " | ".join(cells) + " |")
    notes = ["", "Notes:"]
    if any(m["name"] == "aubio notes" for m in methods):
        notes.append("- aubio's notes object never reports a note at or below MIDI 45 (A2): its source "
                     "(`src/notes/notes.c`) sends a new note only `if (curnote > 45)`; its E1-E2 cells "
                     "and much of its E2-C4 recall reflect that, not a slow decision.")
    for m in methods:
        if m["streaming"] and not m["health"]["clean"]:
            notes.append(f"- {m['name']}: {m['health']['deadline_misses']} hops took longer than "
                         "their duration when fed hop by hop on this shared machine; latency "
                         "figures are sample counts and do not depend on it.")
    return "\n".join(lines + notes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--melodies", type=int, default=1, help="melodies per program (default 1)")
    parser.add_argument("--latency", default="balanced", help="rtnote's latency setting")
    parser.add_argument("--quick", action="store_true", help="every 6th program only (a smoke run)")
    parser.add_argument("--no-pyin", action="store_true", help="leave out pyin (the slow peer)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    melodies = melody_set(args.melodies)
    if args.quick:
        keep = set(PROGRAMS[::6])
        melodies = [m for m in melodies if m[0] in keep]
    methods = [Rtnote(args.latency)]
    try:
        methods.append(AubioNotes())
    except ImportError as exc:  # a peer runs where installed (pip install aubio)
        print(f"peers: aubio left out: {exc}", file=sys.stderr)
    if not args.no_pyin:
        methods.append(PyinOnsets())
    results = [evaluate(m, melodies) for m in methods]
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "versions": versions(),
              "load_start": load_start, "load_end": os.getloadavg()[0],
              "melodies": len([m for m in melodies if m[0] not in OCTAVE_AMBIGUOUS_PROGRAMS]),
              "audio_s": results[0]["audio_s"], "methods": results}
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "peers.json"), "w") as f:
        json.dump(result, f, indent=1)
    command = "nice python benchmarks/peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    markdown = to_markdown(result, command.strip())
    if not args.no_write:
        write_results_section("peers", markdown)
    Console().print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
