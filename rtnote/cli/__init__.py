"""The ``rtnote`` command: one sub-command per module, each with ``add_parser`` and ``run``.

Errors a user can cause print one line ``rtnote: error: ...`` and exit 1 (2 for a malformed
command line). A live run stopped by Ctrl-C or SIGTERM ends its notes, writes its files and
exits 0 (rtnote.live.LiveRun); the same signals at any other moment (start-up, a transcribe
batch) print ``rtnote: interrupted (SIGINT)`` and exit 128 + the signal number, with no
output half-written.
"""

import argparse
import importlib
import signal
import sys

from rtnote import __version__, interrupts
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


class _Parser(argparse.ArgumentParser):
    """argparse with one error line (the usage is one ``--help`` away)."""

    def error(self, message):
        self.exit(2, f"rtnote: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
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
    try:
        with interrupts.caught():
            with interrupts.held():  # numpy turns an interrupted import into an ImportError
                parser = build_parser()
                args = parser.parse_args(argv)
            code = args.run(args) or 0
            if interrupts.received is not None:  # a library swallowed the exception
                raise interrupts.Interrupted(interrupts.received)
            return code
    except RtnoteError as exc:
        error(exc)
        return 1
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"rtnote: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
