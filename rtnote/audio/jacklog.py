"""Quiet the JACK client libraries loaded in this process.

libjack prints its own messages to stderr ("Cannot connect to server socket", "Server is not
running", ...) from every JACK client library in the process: the system's (used by
PortAudio) and the copy bundled with python-rtmidi. rtnote says what went wrong in one line
of its own, so these are routed to a no-op. Linux only (it finds the libraries in
/proc/self/maps); elsewhere it does nothing.
"""

import ctypes
import os

_handler = None  # the ctypes callback must stay alive as long as the libraries
_quieted = set()


def loaded_libjacks():
    """Paths of the libjack client libraries mapped into this process."""
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if name.startswith("libjack") and "server" not in name and ".so" in name:
                    paths.add(path)
    except OSError:
        pass
    return paths


def quiet_libjack():
    """Route libjack's error and info messages to nowhere (idempotent, best effort)."""
    global _handler
    if _handler is None:
        _handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda message: None)
    for path in loaded_libjacks() - _quieted:
        _quieted.add(path)
        try:
            lib = ctypes.CDLL(path)
            lib.jack_set_error_function(_handler)
            lib.jack_set_info_function(_handler)
        except (OSError, AttributeError):
            pass
