"""rtnote transcribe: audio files to MIDI files and JSON-lines events, as fast as the CPU
allows, through the same engine as ``rtnote listen``."""

import os
import sys
from pathlib import Path

from rtnote.cli.options import add_analyzer_arguments, classifier_from_args, settings_from_args
from rtnote.errors import ConfigError, OutputError, RtnoteError

EXAMPLES = """examples:
  rtnote transcribe song.wav -o song.mid                 MIDI file of the notes
  rtnote transcribe song.flac --events song.jsonl        one JSON event per line
  rtnote transcribe *.wav --out-dir out/ --jobs 2        many files, in parallel
"""


def add_parser(sub, name):
    p = sub.add_parser(name, help="transcribe audio files to MIDI and JSON-lines events",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=lambda prog: __import__("argparse").RawDescriptionHelpFormatter(prog, width=100))
    p.add_argument("inputs", nargs="+", metavar="IN",
                   help="audio files (WAV, FLAC, OGG, MP3; any rate and channel count)")
    p.add_argument("-o", "--output", metavar="OUT.mid",
                   help="MIDI file to write (one input only)")
    p.add_argument("--events", metavar="OUT.jsonl",
                   help="JSON-lines event file to write (one input only)")
    p.add_argument("--out-dir", metavar="DIR",
                   help="write <stem>.mid and <stem>.jsonl for each input here")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="files transcribed in parallel (default 1)")
    p.add_argument("--blocksize", type=int, default=4096, metavar="SAMPLES",
                   help="source block size in samples (default 4096; does not change results)")
    add_analyzer_arguments(p)
    p.set_defaults(run=run)


def _outputs(args):
    """[(input, midi_path, events_path)] from the arguments; refuses outputs that could not
    be written (before any file is transcribed)."""
    from rtnote.cli.live_options import check_output_paths

    if len(args.inputs) > 1 and (args.output or args.events):
        raise ConfigError("-o/--events name one file; with several inputs use --out-dir")
    if args.out_dir:
        try:
            os.makedirs(args.out_dir, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make --out-dir {args.out_dir}: "
                              f"{exc.strerror or exc}") from None
        check_output_paths(os.path.join(args.out_dir, "x"))
        return [(i, os.path.join(args.out_dir, Path(i).stem + ".mid"),
                 os.path.join(args.out_dir, Path(i).stem + ".jsonl")) for i in args.inputs]
    if not (args.output or args.events):
        stem = Path(args.inputs[0]).with_suffix("")
        check_output_paths(f"{stem}.mid", f"{stem}.jsonl")
        return [(args.inputs[0], f"{stem}.mid", f"{stem}.jsonl")]
    check_output_paths(args.output, args.events)
    return [(args.inputs[0], args.output, args.events)]


def _one(path, midi_path, events_path, settings, classifier=None, blocksize=4096):
    """Transcribe one file in a worker; returns (path, summary or None, error line or None).

    What the decoders print themselves (libmpg123 on damaged MP3 frames) becomes one
    warning line."""
    from rtnote.audio.sources import c_stderr_captured
    from rtnote.transcribe import transcribe_file

    try:
        with c_stderr_captured() as decoder_said:
            result = transcribe_file(path, midi_path, events_path, settings,
                                     family_classifier=classifier, blocksize=blocksize)
    except RtnoteError as exc:
        return path, None, str(exc)
    notes = sum(1 for e in result.events if e.type == "note_on")
    warnings = []
    if result.nonfinite_samples:
        warnings.append(f"{result.nonfinite_samples} non-finite samples treated as silence")
    if decoder_said:
        n = len(decoder_said)
        warnings.append(f"damaged data: the decoder complained {n} time{'s' * (n != 1)} "
                        f"(first: {' '.join(decoder_said[0].split())[:100]})")
    warn = "; ".join(warnings) or None
    return path, {"notes": notes, "duration_s": result.duration_s, "warning": warn,
                  "outputs": [p for p in (midi_path, events_path) if p]}, None


def run(args):
    from joblib import Parallel, delayed
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, not {args.jobs}")
    if args.blocksize < 1:
        raise ConfigError(f"--blocksize must be >= 1 sample, not {args.blocksize}")
    settings = settings_from_args(args)
    classifier = classifier_from_args(args)
    jobs = _outputs(args)
    console = Console(stderr=True)
    failed = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} files"),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("transcribing", total=len(jobs))
        results = Parallel(n_jobs=min(args.jobs, len(jobs)), return_as="generator")(
            delayed(_one)(path, mid, ev, settings, classifier, args.blocksize)
            for path, mid, ev in jobs)
        for path, summary, err in results:
            progress.advance(task)
            if err:
                failed += 1
                progress.console.file.flush()
                print(f"rtnote: error: {err}", file=sys.stderr)
                continue
            if summary["warning"]:
                print(f"rtnote: warning: {path}: {summary['warning']}", file=sys.stderr)
            print(f"{path}: {summary['notes']} notes in {summary['duration_s']:.1f} s -> "
                  f"{', '.join(summary['outputs'])}", file=sys.stderr)
    if failed:
        print(f"rtnote: {failed} of {len(jobs)} files failed", file=sys.stderr)
        return 1
    return 0
