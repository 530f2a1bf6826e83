"""rtnote demo: the live view fed by the bundled demo clip, played in real time.

The clip (14 s) is a melody played in turn by piano, flute, guitar, violin and bass,
rendered from the FluidR3_GM soundfont. It needs no microphone and no sound card, ends by
itself, and prints one line per note when the output is not a terminal. Everything
``rtnote listen`` does with the notes (MIDI out, files) works here too.
"""

import contextlib

from rtnote.cli.live_options import (add_live_arguments, check_output_paths, close_if_any,
                                     formatter, load_classifier, open_midi, open_recorder,
                                     view_mode)
from rtnote.cli.options import add_analyzer_arguments, settings_from_args

EXAMPLES = """examples:
  rtnote demo                       the live view on the bundled clip
  rtnote demo --midi-out            ... and its notes on the virtual MIDI port "rtnote"
  rtnote demo --json                events as JSON lines
"""


def demo_path():
    """Path of the bundled demo clip (rtnote/data/demo.flac)."""
    from importlib import resources

    return str(resources.files("rtnote.data").joinpath("demo.flac"))


def _demo_classifier(args):
    """The --model classifier; with no --model and no shipped model yet, none (the demo
    then shows notes without families and says so)."""
    import os
    import sys

    if getattr(args, "model", None) is None:
        try:
            from rtnote.classifier import default_model_path
        except ImportError:
            return None
        if not os.path.exists(default_model_path()):
            print("rtnote: no family model is installed: the demo shows notes without "
                  "instrument families", file=sys.stderr)
            return None
    return load_classifier(args)


def add_parser(sub, name):
    p = sub.add_parser(name, help="the live view on the bundled demo clip (no microphone needed)",
                       description=__doc__, epilog=EXAMPLES, formatter_class=formatter)
    add_analyzer_arguments(p)
    add_live_arguments(p)
    p.set_defaults(run=run)


def run(args):
    from rtnote.analysis.analyzer import Analyzer
    from rtnote.audio.sources import FileSource
    from rtnote.engine import Engine
    from rtnote.live import LiveRun

    settings = settings_from_args(args)
    check_output_paths(args.output, args.events, args.stats, args.record)
    view = view_mode(args)
    source = FileSource(demo_path(), blocksize=256, paced=True)
    with contextlib.ExitStack() as opened:  # closed here only on an error, else by LiveRun
        classifier = _demo_classifier(args)
        opened.callback(close_if_any, classifier)
        midi, midi_desc = open_midi(args)
        opened.callback(close_if_any, midi)
        engine = Engine(Analyzer(source.sr, settings, classifier),
                        recorder=open_recorder(args, source.sr), worker_priority=1)
        opened.pop_all()
    announce = (f"rtnote: demo: bundled clip, {source.duration_s:.0f} s at {source.sr} Hz, "
                "played in real time")
    if midi_desc:
        announce += f"; MIDI out: {midi_desc}"
    live = LiveRun(engine, source, view=view, midi=midi, title="demo: piano, flute, guitar, "
                   "violin, bass", midi_file=args.output, events_file=args.events,
                   stats_path=args.stats, announce=announce)
    return live.run()
