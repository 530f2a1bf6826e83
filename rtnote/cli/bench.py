"""rtnote bench: how late rtnote is, measured on audio whose note onsets are known exactly.

Feeds audio through the real engine (the same one `listen` and `transcribe` use) and reports
per-note algorithmic latency (decision sample - true onset) overall and by register, missed
and false notes, compute per hop against its budget, deadline misses, ring-buffer overflows,
throughput and peak memory. By default the audio is a set of melodies rendered from the
validation soundfont (TimGM6mb); --audio/--onsets measure your own recording.

--jack plays the audio through a real JACK server into `rtnote listen`'s live path and
measures end-to-end latency: from the audio frame of each onset to the frame its MIDI note
arrives, on JACK's frame clock. --sweep measures each --latency setting against accuracy.

A latency figure is never shown without the run's dropped cycles, overflows and deadline
misses beside it.
"""

import os
import sys

from rtnote.cli.live_options import formatter
from rtnote.cli.options import add_analyzer_arguments, settings_from_args
from rtnote.errors import ConfigError, ModelError, RtnoteError

EXAMPLES = """examples:
  rtnote bench                                   rendered melodies, as fast as possible
  rtnote bench --realtime --plot bench.png       paced like a live input; latency + compute plot
  rtnote bench --audio take.wav --onsets take.mid --json take.json
  rtnote bench --jack                            end to end through JACK at -p 128 and -p 256
  rtnote bench --jack --server default           through your own running JACK server
  rtnote bench --sweep --plot sweep.png          latency settings against accuracy
"""


def add_parser(sub, name):
    p = sub.add_parser(name, help="measure latency, compute and accuracy on audio with known onsets",
                       description=__doc__, epilog=EXAMPLES, formatter_class=formatter)
    what = p.add_argument_group("what to measure")
    what.add_argument("--jack", action="store_true",
                      help="end to end through a real JACK server (started here with its dummy "
                           "driver unless --server is given)")
    what.add_argument("--sweep", action="store_true",
                      help="every --latency setting against note F1 and low-note pitch accuracy")
    audio = p.add_argument_group("audio (default: melodies rendered from the validation soundfont)")
    audio.add_argument("--audio", metavar="FILE", help="your own recording (any format libsndfile reads)")
    audio.add_argument("--onsets", metavar="FILE.mid|FILE.csv",
                       help="where each of its notes truly begins: a MIDI file, or a CSV of "
                            "onset_s[,pitch[,offset_s]] rows (seconds, MIDI note number)")
    audio.add_argument("--melodies", type=int, default=None, metavar="N",
                       help="rendered melodies, one instrument each, bass first (default 6; "
                            "12 with --sweep)")
    audio.add_argument("--notes", type=int, default=12, metavar="N",
                       help="notes per rendered melody (default 12)")
    audio.add_argument("--soundfont", default=None, metavar="NAME|PATH",
                       help="soundfont to render with (default TimGM6mb, never trained on)")
    audio.add_argument("--seed", type=int, default=0, help="melody seed (default 0)")
    run = p.add_argument_group("how to run")
    run.add_argument("--realtime", action="store_true",
                     help="feed the audio in real time like a live input (default: as fast as "
                          "possible); per-hop compute and deadline misses are then the live ones")
    run.add_argument("--blocksize", type=int, default=256, metavar="SAMPLES",
                     help="source block size in samples, like an audio callback's (default 256)")
    run.add_argument("--periods", default=None, metavar="FRAMES[,FRAMES]",
                     help="--jack: JACK periods (-p) to run at, one server each (default 128,256)")
    run.add_argument("--server", metavar="NAME",
                     help="--jack: use this running JACK server (e.g. 'default') instead of "
                          "starting one; its own period and rate are used")
    run.add_argument("--samplerate", type=int, default=48000, metavar="HZ",
                     help="--jack: rate of the server started here (default 48000)")
    run.add_argument("--no-rt", action="store_true",
                     help="--jack: start jackd with --no-realtime (as the tests do); default "
                          "--realtime, as on a musician's machine (jackd goes on without where "
                          "realtime priority is not allowed)")
    run.add_argument("--presets", default=None, metavar="NAMES",
                     help="--sweep: latency settings to compare (default: all, "
                          "e.g. low,balanced,accurate)")
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="OUT.json", help="write every figure and each note's latency as JSON")
    out.add_argument("--plot", metavar="OUT.png",
                     help="write a PNG: latency histogram and compute per hop (--sweep: the "
                          "accuracy/latency curve; --jack: end-to-end vs algorithmic latency)")
    add_analyzer_arguments(p)
    p.set_defaults(run=run_bench)


def _check(args):
    if args.jack and args.sweep:
        raise ConfigError("--jack and --sweep measure different things: give one")
    for flag, needs, value in (("--server", "--jack", args.server),
                               ("--presets", "--sweep", args.presets),
                               ("--periods", "--jack", args.periods),
                               ("--no-rt", "--jack", args.no_rt or None)):
        if value is not None and not getattr(args, needs[2:]):
            raise ConfigError(f"{flag} needs {needs}")
    if args.jack and args.realtime:
        raise ConfigError("--jack always runs in real time: leave out --realtime")
    if args.melodies is not None and args.melodies < 1:
        raise ConfigError(f"--melodies must be >= 1, not {args.melodies}")
    if args.notes < 1:
        raise ConfigError(f"--notes must be >= 1, not {args.notes}")
    if args.blocksize < 1:
        raise ConfigError(f"--blocksize must be >= 1 sample, not {args.blocksize}")
    if args.audio is not None and (args.melodies is not None or args.soundfont is not None):
        raise ConfigError("--melodies/--soundfont render audio; with --audio they do not apply")
    if not 8000 <= args.samplerate <= 192000:
        raise ConfigError(f"--samplerate must be 8000 to 192000 Hz, not {args.samplerate}")
    for path, flag in ((args.json, "--json"), (args.plot, "--plot")):
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise ConfigError(f"{flag} {path}: folder {folder} does not exist")
    if args.plot is not None and not args.plot.lower().endswith(".png"):
        raise ConfigError(f"--plot writes a PNG: give a name ending in .png, not {args.plot}")


def parse_periods(text):
    """'128,256' -> [128, 256]; each a power of two from 16 to 4096 frames."""
    try:
        periods = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--periods must be frame counts like 128,256, not {text!r}") from None
    if not periods or any(p < 16 or p > 4096 or p & (p - 1) for p in periods):
        raise ConfigError(f"--periods must be powers of two from 16 to 4096 frames, not {text!r}")
    return periods


def parse_presets(text):
    from rtnote.analysis.notes import LATENCY_PRESETS

    if text is None:
        return list(LATENCY_PRESETS)
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in LATENCY_PRESETS]
    if not names or bad:
        raise ConfigError(f"--presets must name settings from {', '.join(LATENCY_PRESETS)}, "
                          f"not {text!r}")
    return names


def _classifier(args):
    """(family classifier or None, description). Without --model, the shipped model if there
    is one, else none (said in the report)."""
    from rtnote.cli.options import classifier_from_args

    try:
        classifier = classifier_from_args(args)
    except ModelError as exc:
        if getattr(args, "model", None) is None:
            return None, f"none (no usable shipped model: {exc})"
        raise
    if classifier is None:
        return None, "none"
    model = getattr(args, "model", None)
    return classifier, f"model {model}" if model else "the shipped model"


def _listen_model_args(args):
    """The --model options for the `rtnote listen` under test: the user's, else the shipped
    model when it loads, else none."""
    from rtnote.cli import options

    if not hasattr(options, "add_model_arguments"):
        return []  # this listen has no family model options
    model = getattr(args, "model", None)
    if model is not None:
        return ["--model", model] + (["--trust-model"] if args.trust_model else [])
    classifier, _ = _classifier(args)
    return [] if classifier is not None else ["--model", "none"]


def _workload(args, sr=None):
    from rtnote.bench import workload

    workload.check_paths(args.audio, args.onsets)
    if args.audio is not None:
        w = workload.from_files(args.audio, args.onsets)
        return w.resampled(sr) if sr else w
    n = args.melodies or (12 if args.sweep else 6)
    return workload.rendered(n, args.notes, args.soundfont, sr=sr or 44100, seed=args.seed)


def _need(module, hint):
    try:
        __import__(module)
    except ImportError as exc:
        raise RtnoteError(f"rtnote bench needs {module}: {hint} ({exc})") from None


def run_bench(args):
    from rich.console import Console

    _check(args)
    _need("mir_eval", "pip install mir_eval (or pip install 'rtnote[bench]')")
    if args.plot:
        _need("matplotlib", "pip install matplotlib (or pip install 'rtnote[bench]')")
    settings = settings_from_args(args)
    periods = parse_periods(args.periods or "128,256") if args.jack else None
    presets = parse_presets(args.presets) if args.sweep else None
    console = Console()
    err = Console(stderr=True)
    if args.jack:
        return _run_jack(args, settings, periods, console, err)
    classifier, families = _classifier(args)
    w = _workload(args)
    if args.sweep:
        return _run_sweep(args, w, settings, presets, classifier, families, console, err)
    return _run_plain(args, w, settings, classifier, families, console, err)


def _progress(err, label):
    from rich.progress import BarColumn, Progress, TextColumn

    return Progress(TextColumn(label), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    console=err, transient=True, disable=not err.is_terminal)


def _run_plain(args, w, settings, classifier, families, console, err):
    from rtnote.bench import report
    from rtnote.bench.measure import bench

    label = "paced in real time" if args.realtime else "as fast as possible"
    err.print(f"rtnote: bench: {w.name}, {w.duration_s:.1f} s, {label}")
    with _progress(err, "benchmarking") as progress:
        task = progress.add_task("bench", total=1.0)
        result = bench(w, settings, classifier, paced=args.realtime, blocksize=args.blocksize,
                       classifier_name=families,
                       on_progress=lambda done, total: progress.update(task, completed=done / max(1, total)))
    for table in report.bench_tables(result):
        console.print(table)
    if not args.realtime:
        console.print("[dim]compute per hop in this mode is averaged over worker steps of many "
                      "hops; --realtime gives the live per-hop figures. Speed figures depend on "
                      "the machine and its load.[/]")
    if args.json:
        report.write_json(args.json, result.as_dict())
        err.print(f"rtnote: wrote {args.json}")
    if args.plot:
        report.bench_plot(result, args.plot)
        err.print(f"rtnote: wrote {args.plot}")
    return 0


def _run_sweep(args, w, settings, presets, classifier, families, console, err):
    from rtnote.bench import report
    from rtnote.bench.sweep import sweep

    err.print(f"rtnote: bench --sweep: {w.name}, {w.duration_s:.1f} s, settings {', '.join(presets)}")
    points = sweep(w, presets, settings, classifier, families,
                   on_step=lambda p: err.print(f"rtnote: latency setting '{p}'"))
    console.print(report.sweep_table(points, w.name))
    if args.json:
        report.write_json(args.json, {"workload": {"name": w.name, "sr": w.sr,
                                                   "duration_s": w.duration_s,
                                                   "notes": len(w.notes)},
                                      "families": families,
                                      "points": [p.as_dict() for p in points]})
        err.print(f"rtnote: wrote {args.json}")
    if args.plot:
        report.sweep_plot(points, args.plot, w.name)
        err.print(f"rtnote: wrote {args.plot}")
    return 0


def _run_jack(args, settings, periods, console, err):
    from rtnote.bench import endtoend, report
    from rtnote.bench.jackserver import jack_available

    reason = jack_available()
    if reason is not None:
        raise RtnoteError(f"rtnote bench --jack needs JACK: {reason}")
    model_args = _listen_model_args(args)
    runs = endtoend.run_all(lambda sr: _workload(args, sr), settings, periods, args.server,
                            args.samplerate, model_args=model_args, log=err.print,
                            realtime=not args.no_rt)
    for table in report.jack_tables(runs):
        console.print(table)
    if args.json:
        report.write_json(args.json, {"runs": [r.as_dict() for r in runs]})
        err.print(f"rtnote: wrote {args.json}")
    if args.plot:
        report.jack_plot(runs, args.plot)
        err.print(f"rtnote: wrote {args.plot}")
    return 0 if all(r.error is None for r in runs) else 1


if __name__ == "__main__":  # pragma: no cover
    from rtnote.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
