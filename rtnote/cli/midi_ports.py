"""rtnote midi-ports: the MIDI ports rtnote can send to (--midi-port), for one RtMidi API."""

from rtnote.sinks.midiport import MIDI_APIS, default_midi_api


def add_parser(sub, name):
    p = sub.add_parser(name, help="list MIDI ports to send to", description=__doc__)
    p.add_argument("--midi-api", type=str.lower, metavar="API",
                   help=f"RtMidi API: {', '.join(MIDI_APIS)} (any case; default here: "
                        f"{default_midi_api()})")
    p.set_defaults(run=run)


def run(args):
    from rtnote.sinks.midiport import list_output_ports, midi_backend

    _, api = midi_backend(args.midi_api)
    ports = list_output_ports(args.midi_api)
    if not ports:
        print(f"no {api} MIDI ports to send to; rtnote listen --midi-out opens its own "
              "virtual port instead")
        return 0
    print(f"{api} MIDI ports (use with --midi-port NAME):")
    for name in ports:
        print(f"  {name}")
    return 0
