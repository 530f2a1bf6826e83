"""rtnote listen: notes from a microphone or an audio server, live, in the terminal and as
MIDI to a DAW.

Without --device, rtnote uses the system's default input, or else the first input that
works (on a machine with only a JACK server: JACK's), and says which. Ctrl-C (or SIGTERM)
ends it cleanly: every note that is on gets its note_off first.
"""

import contextlib

from rtnote.cli.live_options import (add_live_arguments, check_output_paths, close_if_any,
                                     formatter, load_classifier, open_midi, open_recorder,
                                     view_mode)
from rtnote.cli.options import add_analyzer_arguments, settings_from_args

EXAMPLES = """examples:
  rtnote listen                                 default input, live view
  rtnote listen --device 2 --midi-out           input 2, virtual MIDI port "rtnote"
  rtnote listen --midi-out --channel-per-family one MIDI channel per instrument family
  rtnote listen --json > notes.jsonl            events as JSON lines, no view
  rtnote devices                                list the inputs
"""


def add_parser(sub, name):
    p = sub.add_parser(name, help="listen to an input device: live view and MIDI out",
                       description=__doc__, epilog=EXAMPLES, formatter_class=formatter)
    audio = p.add_argument_group("audio input")
    audio.add_argument("-d", "--device", metavar="DEV",
                       help="input device: index or part of its name (see rtnote devices)")
    audio.add_argument("--host-api", metavar="API",
                       help="only devices of this host API, e.g. jack, alsa, pulse (any case)")
    audio.add_argument("-r", "--samplerate", type=int, metavar="HZ",
                       help="sample rate in Hz (default: the device's own)")
    audio.add_argument("--blocksize", type=int, default=0, metavar="SAMPLES",
                       help="frames per audio callback (default 0: the host's choice, one "
                            "JACK period, the lowest latency)")
    audio.add_argument("--channels", type=int, default=1, metavar="N",
                       help="input channels to open, mixed to mono (default 1)")
    audio.add_argument("--jack-name", default="rtnote-in", metavar="NAME",
                       help="client name of the input on a JACK server (default rtnote-in)")
    add_analyzer_arguments(p)
    add_live_arguments(p)
    p.set_defaults(run=run)


def run(args):
    from rtnote.analysis.analyzer import Analyzer
    from rtnote.audio.live import LiveSource
    from rtnote.engine import Engine
    from rtnote.live import LiveRun

    settings = settings_from_args(args)
    check_output_paths(args.output, args.events, args.stats, args.record)
    view = view_mode(args)
    with contextlib.ExitStack() as opened:  # closed here only on an error, else by LiveRun
        classifier = load_classifier(args)
        opened.callback(close_if_any, classifier)
        midi, midi_desc = open_midi(args)
        opened.callback(close_if_any, midi)
        source = LiveSource(args.device, args.samplerate, args.blocksize, args.channels,
                            args.host_api, jack_name=args.jack_name)
        opened.callback(source.stop)
        engine = Engine(Analyzer(source.sr, settings, classifier),
                        recorder=open_recorder(args, source.sr), worker_priority=1)
        opened.pop_all()
    announce = f"rtnote: listening to {source.description}"
    if midi_desc:
        announce += f"; MIDI out: {midi_desc}"
    title = f"listening: {source.device_name} ({source.hostapi}) {source.sr} Hz"
    live = LiveRun(engine, source, view=view, midi=midi, title=title, midi_file=args.output,
                   events_file=args.events, stats_path=args.stats, announce=announce)
    return live.run()
