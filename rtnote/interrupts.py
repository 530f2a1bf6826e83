"""SIGINT, SIGTERM and SIGHUP outside a live run's own handling: raised as
:class:`Interrupted`, and remembered.

Library code that catches everything (a bare ``except:`` during an import, say) can swallow
the exception a signal handler raises. The signal is therefore also remembered here, so
that a live run starting afterwards stops at once instead of running until killed.

:func:`held` keeps these signals away while code that a signal breaks runs: imports (numpy
turns an interrupted import into an ImportError), and PortAudio, libjack or RtMidi setting
up (a signal in their system calls made them fail with a wrong error).
"""

import contextlib
import signal
import threading

#: The termination signals this platform has.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))

#: The first signal caught by :func:`caught` in this process, or None.
received = None


class Interrupted(KeyboardInterrupt):
    """A termination signal arrived (``signum``)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise(signum, frame):
    global received
    if received is None:
        received = signum
    raise Interrupted(signum)


def handled():
    """The termination signals rtnote handles here: those not ignored. A process started
    with one ignored keeps it so, as the convention asks: ``nohup`` ignores SIGHUP (the
    run outlives its terminal), a shell without job control ignores SIGINT in a background
    job (Ctrl-C meant for the script is not for it); SIGTERM still ends it cleanly."""
    return [sig for sig in SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]


def take():
    """The remembered signal, or None; forgets it (its taker handles it)."""
    global received
    signum, received = received, None
    return signum


@contextlib.contextmanager
def caught():
    """Within the block, SIGINT, SIGTERM and SIGHUP (those :func:`handled`) raise Interrupted
    and are remembered in :data:`received` (main thread only; elsewhere nothing changes)."""
    global received
    received = None
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in handled():
            old[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        received = None


@contextlib.contextmanager
def held():
    """Hold SIGINT, SIGTERM and SIGHUP (pthread_sigmask) during the block; a signal sent
    meanwhile is delivered when it ends, and handled as usual. Threads started inside
    inherit the mask, so signals reach the main thread only. Nothing outside the main thread
    or without pthread_sigmask (Windows)."""
    if (not hasattr(signal, "pthread_sigmask")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    # read the mask first: pthread_sigmask runs pending handlers, and one that raises
    # inside the blocking call must still find the mask restored
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
