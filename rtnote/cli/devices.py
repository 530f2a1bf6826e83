"""rtnote devices: the audio inputs rtnote can listen to, and the one it would choose."""


def add_parser(sub, name):
    p = sub.add_parser(name, help="list audio input devices", description=__doc__)
    p.add_argument("--host-api", metavar="API",
                   help="only devices of this host API, e.g. jack, alsa, pulse (any case)")
    p.set_defaults(run=run)


def run(args):
    from rtnote.audio.live import choose_input, input_devices

    devices = input_devices(args.host_api)
    if not devices:
        where = f" for host API {args.host_api!r}" if args.host_api else ""
        print(f"no audio input devices{where}: connect a microphone or start an audio server "
              "(JACK, PulseAudio, PipeWire); rtnote demo works without one")
        return 0
    print(f"{'':2}{'index':>5}  {'name':<32} {'host API':<26} {'ch':>3} {'rate':>7}")
    for d in devices:
        mark = "*" if d["default"] else " "
        print(f"{mark:2}{d['index']:>5}  {d['name'][:32]:<32} {d['hostapi'][:26]:<26} "
              f"{d['channels']:>3} {d['default_samplerate']:>7.0f}")
    index, why = choose_input(None, args.host_api)
    print(f"rtnote listen uses input {index} by default ({why}); * = system default")
    return 0
