"""SIGINT, SIGTERM and SIGHUP outside a live run's own handling: raised as
:class:`Interrupted`, and remembered.

Library code that catches everything (a bare ``except:`` during an import, say) can swallow
the exception a signal handler raises. The signal is therefore also remembered here, so
that a live run starting afterwards stops at once instead of running until killed.
"""

import contextlib
import signal
import threading

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


def take():
    """The remembered signal, or None; forgets it (its taker handles it)."""
    global received
    signum, received = received, None
    return signum


@contextlib.contextmanager
def caught():
    """Within the block, SIGINT (unless ignored), SIGTERM and SIGHUP raise Interrupted and
    are remembered in :data:`received` (main thread only; elsewhere nothing changes)."""
    global received
    received = None
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                old[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        received = None
