"""The ``rtnote`` command: one sub-command per module, each with ``add_parser`` and ``run``.

Errors a user can cause print one line ``rtnote: error: ...`` and exit 1; Ctrl-C exits 130
after every note was ended and no output was half-written.
"""

import argparse
import importlib
import sys

from rtnote import __version__
from rtnote.errors import RtnoteError

#: sub-command name -> module under rtnote.cli
COMMANDS = {
    "transcribe": "transcribe",
    "listen": "listen",
    "demo": "demo",
    "devices": "devices",
    "midi-ports": "midi_ports",
    "bench": "bench",
    "train": "train",
    "evaluate": "evaluate",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rtnote",
        description="Real-time note and instrument-family recognition: listen to audio, "
                    "report each note's pitch and instrument family, as it happens.",
    )
    parser.add_argument("--version", action="version", version=f"rtnote {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        importlib.import_module(f"rtnote.cli.{module}").add_parser(sub, name)
    return parser


def error(message):
    print(f"rtnote: error: {message}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except RtnoteError as exc:
        error(exc)
        return 1
    except KeyboardInterrupt:
        print("rtnote: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
