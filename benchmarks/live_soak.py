"""Soak test of the live path: a 5-minute rendered melody played through a real JACK server
(dummy driver, 48 kHz) into ``rtnote listen`` with its default settings and MIDI out.

Reports, as JSON in benchmarks/out/live_soak.json: dropped cycles (xruns flagged to rtnote's
input, and xruns seen by the player client), ring-buffer overflows, deadline misses (hops
whose compute exceeded their duration; ``deadline_misses_off_cpu`` counts those where the
worker spent more of the time waiting, for the GIL or the scheduler, than on the CPU), compute per hop, the notes found, and the
end-to-end latency per note (audio onset frame -> MIDI frame, on JACK's frame clock); how
long a note_on waited for its family from the classifier process (median, p99 [ms]); the
resident memory of the rtnote process at the start and the end; and the drift of rtnote's
sample clock against the played audio (each live note_on against the same audio analyzed as
a file, last tenth of the notes against the first: 0 while rtnote's clock is the server's,
cycles its input missed included); the input rtnote missed (cycles the server ran without
its callback: ``rtnote_missed_samples``) and spliced over; and
the share of the machine's CPU time the hypervisor gave to other machines meanwhile (steal:
a virtual machine's threads cannot run then, whatever their priority); and what the same
small job costs the machine's CPU from run to run meanwhile (``same_work_cpu_ms``, a fixed
FFT-and-Python job timed every 10 ms in another process: a virtual CPU shared with other
machines sometimes runs identical work many times slower, and rtnote's steps with it).

    python benchmarks/live_soak.py [--minutes 5] [--period 256]

Needs jackd2, libportaudio2, JACK-Client, FluidSynth and the FluidR3_GM soundfont. The
machine is shared: run it when nothing else is busy, and quote the counts with the load.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time

import numpy as np

from rtnote.bench.faults import let_sigint_reach_children, rss_mb
from rtnote.bench.jackserver import JackClient, JackServer, Rtnote

HERE = os.path.dirname(os.path.abspath(__file__))

#: (GM program, lowest, highest MIDI note) of the minute-long phrases, in turn
PHRASES = ((0, 55, 79), (73, 64, 88), (33, 36, 52), (24, 48, 72), (40, 55, 84))


def render(minutes, sr):
    from rtnote.synth import Renderer, random_melody

    renderer = Renderer("FluidR3_GM", sr=sr)
    pieces, truth, t0 = [], [], 0.0
    rng = np.random.default_rng(11)
    i = 0
    while t0 < minutes * 60:
        program, low, high = PHRASES[i % len(PHRASES)]
        notes = random_melody(rng, low, high, 100, tempo_bpm=120)
        notes = [n for n in notes if n.offset_s < 58.0]
        y = renderer.render(program, notes, duration_s=60.0)
        pieces.append(0.5 * y / max(1e-6, np.abs(y).max()))
        truth += [(n.pitch, n.onset_s + t0) for n in notes]
        t0 += 60.0
        i += 1
    return np.concatenate(pieces).astype(np.float32), truth


class RealtimeServer:
    """jackd --realtime under a unique name, used through JackServer.existing()."""

    def __init__(self, sr, period):
        import random
        import subprocess

        self.name = f"rtnote-soak-{os.getpid()}-{random.randrange(1 << 30)}"
        self.log = tempfile.TemporaryFile("w+")  # jackd names the client late in an xrun
        self.proc = subprocess.Popen(
            ["jackd", "-n", self.name, "--realtime", "-d", "dummy", "-r", str(sr), "-p",
             str(period)], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.server = JackServer.existing(self.name, timeout=10.0)
        self.server.stop = self.stop
        self.server.late_clients = self.late_clients
        self.server.env  # noqa: B018 - the name is set

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)

    def late_clients(self):
        """{"client (state)": count} of the clients jackd found unfinished at an xrun, from
        its log so far: 'Running' was still computing, 'Triggered' was woken but not yet
        run, 'Not Triggered' waited for a late client before it."""
        self.log.seek(0)
        late = {}
        for line in self.log:
            if "was not finished, state = " in line and "client = " in line:
                name, state = line.split("client = ", 1)[1].split(" was not finished, state = ")
                key = f"{name} ({state.strip()})"
                late[key] = late.get(key, 0) + 1
        return late


def start_server(args, sr):
    if args.realtime:
        return RealtimeServer(sr, args.period).server
    return JackServer(sr=sr, period=args.period).start()


def cpu_times():
    """The machine's CPU time so far, per state (user, nice, system, idle, iowait, irq,
    softirq, steal) [jiffies], from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            return np.array(f.readline().split()[1:9], dtype=np.int64)
    except OSError:
        return None


def stolen_pct(before, after):
    """Share of the CPU time between two :func:`cpu_times` that the hypervisor gave to other
    machines (steal) [%]: time in which no thread of this machine could run."""
    if before is None or after is None or (after - before).sum() <= 0:
        return None
    return round(100.0 * float(after[7] - before[7]) / float((after - before).sum()), 2)


def same_work(path, every_s=0.01):
    """Time one fixed job (the FFTs and Python a worker step does, ~0.2 ms) every ``every_s``
    [seconds] until SIGTERM; writes each run's thread CPU time [ms] to ``path`` as JSON."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    x = np.random.default_rng(0).standard_normal(2048).astype(np.float32)
    cpu_ms = []
    while not stop:
        c0 = time.thread_time()
        for _ in range(10):
            int(np.abs(np.fft.rfft(x)).argmax()) + sum(range(200))
        cpu_ms.append((time.thread_time() - c0) * 1e3)
        time.sleep(every_s)
    with open(path, "w") as f:
        json.dump(cpu_ms, f)


def start_same_work(path):
    import subprocess

    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--same-work", path])


def same_work_summary(proc, path):
    """Stop :func:`same_work` and sum up its runs: median, p99, max CPU time [ms] and how many
    runs took over 5 times the median."""
    proc.terminate()
    proc.wait(10)
    with open(path) as f:
        cpu = np.array(json.load(f))
    median = float(np.median(cpu))
    return {"runs": len(cpu), "median": round(median, 3), "p99": round(float(np.percentile(cpu, 99)), 3),
            "max": round(float(cpu.max()), 3), "runs_over_5x_median": int((cpu > 5 * median).sum())}


def baseline(args):
    sr = 48000
    y, truth = render(args.minutes, sr)
    server = start_server(args, sr)
    try:
        client = JackClient(server)
        client.client.connect(client.out, "system:playback_1")
        before, cpu_before = client.xruns, cpu_times()
        client.play(y)
        client.wait_frame(client.played_until(), timeout=len(y) / sr + 60)
        xruns, stolen = client.xruns - before, stolen_pct(cpu_before, cpu_times())
        client.close()
        late = getattr(server, "late_clients", dict)()
    finally:
        server.stop()
    result = {"played_s": round(len(y) / sr, 1), "sr": sr, "jack_period": args.period,
              "realtime": args.realtime,
              "xruns_at_player_client": xruns, "late_clients": late, "rtnote": False,
              "cpu_stolen_pct": stolen,
              "load_average_1min_at_end": os.getloadavg()[0]}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


def main():
    let_sigint_reach_children()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--period", type=int, default=256, help="JACK period [frames]")
    parser.add_argument("--model", default=None,
                        help="rtnote's --model (default: the shipped model; 'none': no families)")
    parser.add_argument("--out", default=None,
                        help="result file (default benchmarks/out/live_soak[_baseline].json)")
    parser.add_argument("--realtime", action="store_true",
                        help="run jackd (and so the JACK client threads) with realtime priority, "
                             "as on a musician's machine; default: --no-realtime, like the tests")
    parser.add_argument("--baseline", action="store_true",
                        help="play to the server without rtnote: the xruns the machine and the "
                             "Python player cause by themselves")
    parser.add_argument("--same-work", metavar="PATH", help=argparse.SUPPRESS)  # the job's process
    args = parser.parse_args()
    if args.same_work:
        return same_work(args.same_work)
    suffix = ("_baseline" if args.baseline else "") + ("_rt" if args.realtime else "")
    args.out = args.out or os.path.join(HERE, "out", f"live_soak{suffix}.json")
    if args.baseline:
        return baseline(args)
    sr = 48000
    y, truth = render(args.minutes, sr)
    print(f"rendered {len(y) / sr:.0f} s, {len(truth)} notes", file=sys.stderr)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    stats_path = args.out + ".rtnote-stats.json"
    server = start_server(args, sr)
    model_args = ["--model", args.model] if args.model else []
    events_path = args.out + ".rtnote-events.jsonl"
    same_work_path = args.out + ".same-work.json"
    job = start_same_work(same_work_path)
    try:
        client = JackClient(server)
        rt = Rtnote(["listen", "--view", "none", "--midi-out", "--midi-api", "jack",
                     "--stats", stats_path, "--events", events_path, *model_args], server)
        try:
            client.connect_rtnote(midi_port="rtnote:rtnote")
            xruns_before = client.xruns
            start = client.play(y)
            t0 = time.monotonic()
            rss_start, cpu_before = rss_mb(rt.proc.pid), cpu_times()
            client.wait_frame(client.played_until() + sr, timeout=len(y) / sr + 60)
            wall, stolen = time.monotonic() - t0, stolen_pct(cpu_before, cpu_times())
            same_work_cpu = same_work_summary(job, same_work_path)
            rss_end = rss_mb(rt.proc.pid)
        finally:
            rt.signal(signal.SIGINT)
            code = rt.wait(60)
        time.sleep(0.1)
        midi = client.note_messages()
        xruns = client.xruns - xruns_before
        client.close()
        late = getattr(server, "late_clients", dict)()
    finally:
        job.kill()
        if os.path.exists(same_work_path):  # also when the run failed before its summary
            os.remove(same_work_path)
        server.stop()
    with open(stats_path) as f:
        stats = json.load(f)
    on_frames = [(f, note) for f, kind, _, note, _ in midi if kind == "on"]
    latencies = []
    for pitch, onset_s in truth:
        onset = start + int(round(onset_s * sr))
        later = [f - onset for f, note in on_frames if note == pitch and onset - 256 <= f < onset + sr // 2]
        if later:
            latencies.append(min(later) / sr * 1e3)
    lat = np.array(latencies)
    drift = clock_drift(events_path, y, sr)
    late_worker_steps = late_steps(stats, events_path)
    result = {
        "played_s": round(len(y) / sr, 1), "wall_s": round(wall, 1), "sr": sr,
        "jack_period": args.period, "realtime": args.realtime, "exit_code": code, "model": args.model or "default",
        "notes_played": len(truth), "midi_note_ons": len(on_frames),
        "notes_found_within_0.5s": len(latencies),
        "e2e_latency_ms": ({"median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)),
                            "max": float(lat.max())} if len(lat) else {}),
        "xruns_at_player_client": xruns,
        "late_clients": late,
        "rtnote_dropped_cycles": stats["dropped_cycles"],
        "rtnote_ring_overflows": stats["overflows"],
        "rtnote_deadline_misses": stats["deadline_misses"],
        "rtnote_compute_per_hop": {k: v for k, v in stats["compute"].items() if k != "late_steps"},
        "rtnote_late_steps": late_worker_steps,
        "rtnote_algorithmic_latency_ms": stats["latency_ms"],
        "rtnote_note_on_held_ms": (stats.get("family_process") or {}).get("note_on_held_ms"),
        "rtnote_rss_mb": {"start": rss_start, "end": rss_end},
        "rtnote_samples_in": stats.get("samples_in"),
        "rtnote_samples_analyzed": int(round(stats["duration_s"] * sr)),
        "rtnote_dropped_samples": stats.get("dropped_samples"),
        "rtnote_missed_samples": stats.get("missed_samples"),
        "rtnote_spliced_samples": stats.get("spliced_samples"),
        "clock_drift": drift,
        "cpu_stolen_pct": stolen,
        "same_work_cpu_ms": same_work_cpu,
        "load_average_1min_at_end": os.getloadavg()[0],
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0 if code == 0 else 1


def late_steps(stats, events_path):
    """rtnote's late worker steps, each with the events it decided (their ``type``, and the
    note's pitch; none: the step only went on with the sounding note)."""
    try:
        with open(events_path) as f:
            events = [json.loads(line) for line in f]
    except OSError:
        events = []
    hop = stats["hop_length"]
    steps = []
    for step in stats["compute"].get("late_steps", []):
        end = step["end_sample"]
        decided = [f"{e['type']} {e.get('pitch', '')}".strip() for e in events
                   if end - step["hops"] * hop < e["decision_sample"] <= end]
        steps.append(dict(step, decided=decided))
    return steps


def clock_drift(events_path, y, sr):
    """How far rtnote's sample clock moved against the played audio over the run [samples].

    The played audio is analyzed again as a file, with the same default settings: events do
    not depend on how the audio was chunked, so each live note_on lies a constant offset
    (where the audio began in rtnote's stream) after its file twin, up to the phase of the
    hop grid, as long as rtnote's clock is the server's: a cycle its input missed and did not
    count would shift every later note by one period. Unlike comparing with the score, this is
    free of the analyzer's onset errors.
    """
    from rtnote.analysis.analyzer import Analyzer
    from rtnote.events import NoteOn

    try:
        with open(events_path) as f:
            live = [json.loads(line) for line in f]
    except OSError:
        return None
    live = [(e["onset_sample"], e["pitch"]) for e in live if e["type"] == "note_on"]
    analyzer = Analyzer(sr)
    played = [(e.onset_sample, e.pitch) for e in analyzer.process(y) + analyzer.finish()
              if isinstance(e, NoteOn)]
    if not live or not played:
        return None
    # the start offset: the most common distance between same-pitch notes early on
    by_pitch = {}
    for onset, pitch in live:
        by_pitch.setdefault(pitch, []).append(onset)
    early = [o - p_onset for p_onset, pitch in played[:40] for o in by_pitch.get(pitch, [])]
    values, counts = np.unique(early, return_counts=True)
    start = int(values[np.argmax(counts)])
    shifts = []  # of each matched note from the start offset, in played order [samples]
    for p_onset, pitch in played:
        near = [o - p_onset - start for o in by_pitch.get(pitch, [])
                if abs(o - p_onset - start) <= 4 * 256]
        if near:
            shifts.append(min(near, key=abs))
    if len(shifts) < 10:
        return None
    shifts = np.array(shifts)
    tenth = max(1, len(shifts) // 10)
    return {"notes_matched": len(shifts), "notes_in_file_mode": len(played),
            "start_offset_samples": start, "shift_abs_median_samples": float(np.median(np.abs(shifts))),
            "drift_samples": float(np.median(shifts[-tenth:]) - np.median(shifts[:tenth]))}


if __name__ == "__main__":
    sys.exit(main())
