"""Latency figures for benchmarks/RESULTS.md, each from the `rtnote bench` command that
reproduces it (run here as a subprocess, its JSON read back):

    nice python benchmarks/latency.py [--melodies 12] [--only bench,sweep,jack]

- "bench": ``rtnote bench --realtime`` -- algorithmic latency by register, compute per hop
  paced like a live input, deadline misses, overflows, memory (PNG benchmarks/bench.png);
- "sweep": ``rtnote bench --sweep`` -- the latency settings against note F1 and low-note
  pitch accuracy (PNG benchmarks/sweep.png);
- "jack": ``rtnote bench --jack`` -- end to end through a JACK server (dummy driver) at
  -p 128 and -p 256, and whether the end-to-end median is at most the algorithmic median
  plus one period (PNG benchmarks/jack.png).

JSON goes to benchmarks/out/. Every latency figure is written with its run's dropped
cycles, overflows and deadline misses beside it. The machine is shared: speed figures and
dropped cycles depend on its load, which is recorded.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from accuracy import write_results_section  # noqa: E402
from peers import machine, versions  # noqa: E402


def run(cmd):
    """Run an rtnote command; returns its wall time [s]. Its stderr/stdout pass through."""
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "rtnote", *cmd], check=True, cwd=os.path.dirname(HERE))
    return time.monotonic() - t


def _ms(x):
    return "--" if x is None else f"{x:.1f} ms"


def _health(h):
    from rtnote.bench.measure import HEALTH_LABELS

    items = [f"{v} {HEALTH_LABELS.get(k, k.replace('_', ' '))}" for k, v in h.items() if k != "clean"]
    return ("clean run: " if h["clean"] else "**NOT a clean run**: ") + ", ".join(items)


def header(title, command, load_start):
    v = versions()
    return [f"## {title}", "",
            f"`{command}` -- {time.strftime('%Y-%m-%d %H:%M')}; {machine()}; load average "
            f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end; rtnote {v['rtnote']}, "
            f"Python {v['python']}, numpy {v['numpy']}, librosa {v['librosa']}, mir_eval {v['mir_eval']}.", ""]


def bench_section(d, command, load):
    lat = d["latency"]
    comp = d["compute"]
    notes = d["notes"]
    lines = header("rtnote bench: algorithmic latency and compute, paced in real time", command, load)
    lines += [f"{d['workload']['name']} ({d['workload']['duration_s']:.0f} s), latency setting "
              f"`{d['settings']['latency']}`, hop {d['settings']['hop_samples']} samples, source "
              f"blocks of {d['settings']['blocksize']}, families: {d['settings']['families']}. "
              f"{notes['reference']} notes: {notes['matched']} matched, {notes['missed']} missed, "
              f"{notes['false']} false (F1 {notes['f1']:.3f}); {notes['corrected']} matched notes "
              "got their pitch from a correction.", "",
              "| notes | n | median | p95 | max |", "| --- | --- | --- | --- | --- |"]
    rows = [("all", lat)] + list(lat["by_register"].items()) + [
        ("first note_on, before corrections", lat["first_note_on"])]
    for name, x in rows:
        lines.append(f"| {name} | {x['notes']} | {_ms(x['median_ms'])} | {_ms(x['p95_ms'])} | {_ms(x['max_ms'])} |")
    lines += ["", f"Run health beside these figures -- {_health(d['health'])}.", "",
              f"Compute per hop (wall time, paced): median {comp['median_ms']:.3f} ms, p99 "
              f"{comp['p99_ms']:.3f} ms ({100 * comp['p99_of_budget']:.0f}% of the "
              f"{comp['budget_ms']:.2f} ms budget), max {comp['max_ms']:.2f} ms over {comp['hops']} hops "
              f"({comp['hops_per_step']:.1f} hops per worker step); {comp['deadline_misses']} deadline "
              f"misses of {comp['steps']} steps; compute load {100 * comp['load']:.1f}% of real time. "
              f"Ring overflows: {d['overflows']}. Peak memory: {d['memory']['peak_rss_mb']:.0f} MiB "
              f"resident ({d['memory']['scope']} peak; {d['memory']['rss_before_mb']:.0f} MiB before). "
              "Speed figures are from a shared, loaded machine.", "",
              "![latency histogram and compute per hop](bench.png)"]
    return "\n".join(lines)


def sweep_section(d, command, load):
    lines = header("Latency setting against accuracy (`rtnote bench --sweep`)", command, load)
    lines += [f"{d['workload']['name']} ({d['workload']['duration_s']:.0f} s, {d['workload']['notes']} notes), "
              f"families: {d['families']}. Low notes: reference notes below MIDI "
              f"{d['points'][0]['low_note_pitch']['below_midi']} (C3) whose onset was found; share "
              "reported with the right pitch.", "",
              "| setting | median latency | p95 | first note_on, median | note F1 | low-note pitch | octave errors | run health |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in d["points"]:
        lat, low = p["latency"], p["low_note_pitch"]
        acc = "--" if low["accuracy"] is None else f"{100 * low['accuracy']:.1f}% ({low['correct']}/{low['found']})"
        lines.append(f"| `{p['latency_setting']}` | {_ms(lat['median_ms'])} | {_ms(lat['p95_ms'])} | "
                     f"{_ms(p['first_note_on_latency']['median_ms'])} | {p['f1']:.3f} | {acc} | "
                     f"{low['octave_errors']} | {_health(p['health'])} |")
    lines += ["", "![F1 and low-note pitch accuracy against median latency](sweep.png)"]
    return "\n".join(lines)


def jack_section(d, command, load):
    lines = header("End to end through JACK (`rtnote bench --jack`)", command, load)
    runs = d["runs"]
    w = runs[0]["workload"]
    lines += [f"{w['name']} ({w['duration_s']:.0f} s, {w['notes']} notes) played by a JACK client "
              "into `rtnote listen --midi-out --midi-api jack` on a private jackd (dummy driver, "
              f"{runs[0]['sr']} Hz); end to end = frame the MIDI note_on arrived at a JACK MIDI "
              "receiver - frame of the note's true onset in the played audio. Algorithmic = the same "
              "run's decision sample - true onset in rtnote's stream, on the notes whose split is exact "
              "(their sound lost no input frame in rtnote's stream; the claim is checked on them).", "",
              "| period | notes matched | end-to-end median / p95 / max, all notes | exact-split notes | "
              "their algorithmic median | + one period | their end-to-end median | <= ? | "
              "transport median / max | algorithmic median, same audio as a file | run health |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        c = r["claim_e2e_median_le_algorithmic_median_plus_one_period"]
        e2e = r["end_to_end_latency"]
        t = r["transport"] or {}
        holds = "--" if c is None else ("yes" if c["holds"] else "**no**")
        lines.append(
            f"| {r['period_frames']} ({r['period_ms']:.2f} ms{', jackd --realtime' if r.get('server_realtime') else ''}) | "
            f"{r['notes']['matched']}/{r['notes']['reference']} | "
            f"{_ms(e2e['median_ms'])} / {_ms(e2e['p95_ms'])} / {_ms(e2e['max_ms'])} | "
            f"{c['notes'] if c else 0} | {_ms(c and c['algorithmic_median_ms'])} | {_ms(c and c['bound_ms'])} | "
            f"{_ms(c and c['e2e_median_ms'])} | {holds} | "
            f"{t.get('median_frames', 0):.0f} / {t.get('max_frames', '--')} frames | "
            f"{_ms((r.get('file_algorithmic_latency') or {}).get('median_ms'))} | {_health(r['health'])} |")
    lost = "; ".join(f"-p {r['period_frames']}: {r['alignment'].get('anchors')} of "
                     f"{r['alignment'].get('audio_sounds_after_silence')} sounds found in rtnote's stream, "
                     f"{r['alignment'].get('sounds_without_loss')} without a lost input frame; "
                     f"{r['alignment'].get('input_frames_lost')} input frames lost between sounds"
                     for r in runs if r.get("alignment"))
    lines += ["", "Transport = end to end - algorithmic, in frames: RtMidi's JACK port sends at the "
              "start of the next cycle, so it is 0 to one period when the worker keeps up. A "
              "dropped cycle costs rtnote's stream frames, which would move the split of the notes "
              "after it: the sounds of the melodies (each after 0.5 s of silence) re-align the stream "
              "and show where frames were lost. Measured: " + (lost or "--") + ".", "",
              "![end to end against algorithmic latency per note](jack.png)"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--melodies", type=int, default=12, help="rendered melodies (default 12)")
    parser.add_argument("--only", default="bench,sweep,jack", help="sections to run")
    args = parser.parse_args(argv)
    out = os.path.join(HERE, "out")
    os.makedirs(out, exist_ok=True)
    only = set(args.only.split(","))
    m = ["--melodies", str(args.melodies)]
    jobs = {
        "bench": (["bench", "--realtime", *m], "bench.png", bench_section),
        "sweep": (["bench", "--sweep", *m], "sweep.png", sweep_section),
        "jack": (["bench", "--jack", *m], "jack.png", jack_section),
    }
    for name, (cmd, png, section) in jobs.items():
        if name not in only:
            continue
        load = os.getloadavg()[0]
        js = os.path.join(out, f"{name}.json")
        run([*cmd, "--json", js, "--plot", os.path.join(HERE, png)])
        with open(js) as f:
            d = json.load(f)
        command = f"rtnote {' '.join(cmd)} --json benchmarks/out/{name}.json --plot benchmarks/{png}"
        write_results_section(f"latency-{name}", section(d, command, load))
        print(f"wrote the latency-{name} section of benchmarks/RESULTS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
