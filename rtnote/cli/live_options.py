"""Options shared by the live commands (``listen`` and ``demo``): the view, MIDI out and the
files a live run can write."""

import argparse

from rtnote.errors import ConfigError
from rtnote.sinks.midiport import MIDI_APIS, default_midi_api

VIEWS = ("auto", "rich", "plain", "json", "none")


def add_live_arguments(parser):
    """Add --view, the MIDI options, -o/--events, --record and --stats to ``parser``."""
    out = parser.add_argument_group("output")
    out.add_argument("--view", choices=VIEWS, default="auto",
                     help="'rich': the live terminal view; 'plain': one line per event; "
                          "'json': one JSON event per line on stdout (the events schema); "
                          "'none': only the summary. Default 'auto': rich in a terminal, "
                          "plain otherwise")
    out.add_argument("--json", action="store_const", const="json", dest="view",
                     help="same as --view json")
    out.add_argument("-o", "--output", metavar="OUT.mid",
                     help="also write the notes to this MIDI file at the end")
    out.add_argument("--events", metavar="OUT.jsonl",
                     help="also write the events to this JSON-lines file at the end")
    out.add_argument("--record", metavar="OUT.wav",
                     help="record the audio rtnote heard (mono, .wav or .flac), as it goes; "
                          "`rtnote transcribe` on it gives the same notes")
    out.add_argument("--stats", metavar="OUT.json",
                     help="write the run's counters (latency, compute per hop, overflows, "
                          "dropped cycles) as JSON at the end")
    midi = parser.add_argument_group("MIDI out")
    midi.add_argument("--midi-out", nargs="?", const="rtnote", metavar="NAME",
                      help="open a virtual MIDI output port NAME (default 'rtnote') that a DAW "
                           "can record from")
    midi.add_argument("--midi-port", metavar="NAME",
                      help="send MIDI to this existing port instead (its name or a unique "
                           "part of it; see rtnote midi-ports)")
    midi.add_argument("--midi-api", type=str.lower, metavar="API",
                      help=f"RtMidi API: {', '.join(MIDI_APIS)} (any case; default here: "
                           f"{default_midi_api()})")
    midi.add_argument("--channel-per-family", action="store_true",
                      help="one MIDI channel per instrument family, with a program change to a "
                           "representative General MIDI program at start (table in README)")
    midi.add_argument("--pitch-bend", action="store_true",
                      help="send each note's cents offset as a pitch bend (reset at note_off)")
    midi.add_argument("--bend-range", type=int, default=2, metavar="SEMITONES",
                      help="pitch-bend range in semitones, sent to the receiver as RPN 0 "
                           "(default 2)")


def check_output_paths(*paths):
    """Refuse, before a run starts, output files that could not be written at its end.

    Raises
    ------
    rtnote.errors.OutputError
        A path is a folder, or its folder is missing or not writable.
    """
    import os

    from rtnote.errors import OutputError

    for path in paths:
        if not path:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise OutputError(f"cannot write {path}: it is a folder")
        if not os.path.isdir(folder):
            raise OutputError(f"cannot write {path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise OutputError(f"cannot write {path}: folder {folder} is not writable")


def open_recorder(args, sr):
    """The AudioRecorder --record asks for, or None."""
    from rtnote.sinks.files import AudioRecorder

    return AudioRecorder(args.record, sr) if args.record else None


def view_mode(args):
    """The view to use: 'auto' becomes 'rich' on a terminal, 'plain' otherwise."""
    from rtnote.live import stdout_is_terminal

    if args.view in (None, "auto"):
        return "rich" if stdout_is_terminal() else "plain"
    return args.view


def open_midi(args):
    """The MidiOutSink the options ask for, or None; MidiPortError if it cannot be opened."""
    from rtnote.sinks.midiport import MidiOutSink, midi_backend, open_output

    if args.midi_out is not None and args.midi_port is not None:
        raise ConfigError("--midi-out and --midi-port exclude each other: give one")
    if args.midi_out is None and args.midi_port is None:
        for flag in ("channel_per_family", "pitch_bend"):
            if getattr(args, flag):
                raise ConfigError(f"--{flag.replace('_', '-')} needs --midi-out or --midi-port")
        if args.midi_api is not None:
            midi_backend(args.midi_api)  # still check the name
        return None, None
    if not 1 <= args.bend_range <= 24:
        raise ConfigError(f"--bend-range must be 1 to 24 semitones, not {args.bend_range}")
    port, description, target = open_output(args.midi_out, args.midi_port, args.midi_api)
    try:
        sink = MidiOutSink(port, channel_per_family=args.channel_per_family,
                           pitch_bend=args.pitch_bend, bend_range=args.bend_range, target=target)
    except BaseException:
        port.close()
        raise
    return sink, description


def load_classifier(args):
    """The family classifier ``--model`` asks for (None for ``--model none``), with its looks
    at each note in a process of their own (:mod:`rtnote.classifier_process`): a live run's
    worker makes no prediction. Close it at the end.

    Raises
    ------
    rtnote.errors.ModelError
    """
    from rtnote.classifier_process import ClassifierProcess
    from rtnote.cli.options import classifier_from_args

    classifier = classifier_from_args(args)
    return ClassifierProcess(classifier) if classifier is not None else None


def close_if_any(opened):
    """``opened.close()``, unless it is None."""
    if opened is not None:
        opened.close()


def formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, width=100)
