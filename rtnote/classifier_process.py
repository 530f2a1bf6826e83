"""The family classifier's looks in a process of their own (live runs).

A look costs 1-3 ms on a live worker (its caches cold), against a step of 5.3 ms at 256
frames and 48 kHz: with the note_on's look on the worker, the steps that decided a note ran
over their deadline (12 in 3 minutes of a live soak, every one a note_on step).
:class:`ClassifierProcess` sends every look to a child that holds its own copy of the
model, on the other core; the worker goes on with the audio, lets a note_on out as soon as
its answer has come, and collects a later look's answer a fixed time after it
(:class:`rtnote.analysis.family.FamilyStage`: the events are those of a run without the
child, only their wall-clock time differs).

The parent runs ``python -m rtnote.classifier_process CONFIG`` with SIGINT, SIGTERM and
SIGHUP blocked (the parent handles them and stops the child) and talks to it in
length-prefixed messages (:class:`multiprocessing.connection.Connection`):

1. child -> ``ready`` once the model is loaded, or ``error: ...`` and exit 1;
2. parent -> a request (ticket, sample rate, pitch, float32 samples); child -> its answer
   (ticket, family index, confidence), in order;
3. end of input (the parent closed it, or died): the child exits 0.
"""

import fcntl
import gc
import json
import os
import struct
import subprocess
import sys
import time
from collections import deque
from multiprocessing.connection import Connection

import numpy as np

from rtnote import interrupts
from rtnote.errors import ModelError

REQUEST = struct.Struct("<qid")  # ticket, sample rate [Hz], pitch [Hz]; then the samples
ANSWER = struct.Struct("<qid")  # ticket, family index, confidence


class ClassifierProcess:
    """A family classifier whose looks (:meth:`submit`, :meth:`ready`, :meth:`answer`) run
    in a child process.

    Parameters
    ----------
    classifier : rtnote.classifier.FamilyClassifier
        Loaded (and checked against its manifest) with :func:`rtnote.classifier.load_model`;
        the child loads the same file.

    Raises
    ------
    ModelError
        The child could not load the model, or did not say it had in ``START_S``.
    """

    START_S = 30.0  # longest wait for the child to load the model [seconds]
    ANSWER_S = 0.5  # longest wait for an answer before the child counts as lost [seconds]
    PIPE_BYTES = 1 << 20  # the requests pipe's buffer [bytes]

    def __init__(self, classifier):
        self.classifier = classifier
        self.classes_ = classifier.classes_
        self.later_looks_s = classifier.later_looks_s
        self._ticket = 0
        self._asked = {}  # ticket -> (time sent [monotonic s], y, sr, f0_hz), not yet collected
        self._answered = {}  # ticket -> (family, confidence) come but not yet collected
        self.lost = None  # why the child was given up (its looks are then made here)
        self.waits = 0  # answers the worker had to wait for
        self.ready_s = deque(maxlen=4096)  # sent -> seen by ready() [seconds], last looks
        config = {"path": classifier.path}
        self._child = None
        try:
            with interrupts.held():
                self._child = subprocess.Popen(
                    [sys.executable, "-m", "rtnote.classifier_process", json.dumps(config)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:  # room for a few looks: with 64 KiB a 0.4 s look (77 KB) waits for the child
                fcntl.fcntl(self._child.stdin.fileno(), fcntl.F_SETPIPE_SZ, self.PIPE_BYTES)
            except (OSError, AttributeError):
                pass  # not Linux, or over the system's pipe-max-size: sends may wait
            self._requests = Connection(os.dup(self._child.stdin.fileno()), readable=False)
            self._answers = Connection(os.dup(self._child.stdout.fileno()), writable=False)
            message = self._receive(self.START_S).decode()
        except BaseException:  # Ctrl-C included: the child must not outlive this
            self.close()
            raise
        if message != "ready":
            self.close()
            raise ModelError(message.removeprefix("error: "))

    def _receive(self, timeout_s):
        """The child's next message [bytes]; raises ModelError if it ended or is silent."""
        if not self._answers.poll(timeout_s):
            raise ModelError(f"the family classifier process did not answer in {timeout_s:g} s")
        try:
            return self._answers.recv_bytes()
        except (EOFError, OSError):
            raise ModelError("the family classifier process ended unexpectedly") from None

    def submit(self, y, sr, f0_hz):
        """Send a look to the child; returns its ticket for :meth:`answer`."""
        self._ticket += 1
        y = np.array(y, dtype=np.float32)  # kept until answered
        self._asked[self._ticket] = (time.monotonic(), y, int(sr), float(f0_hz))
        if self.lost is None:
            try:
                self._requests.send_bytes(REQUEST.pack(self._ticket, int(sr), float(f0_hz)) + y.tobytes())
            except OSError:
                self._lose(ModelError("the family classifier process ended unexpectedly"))
        return self._ticket

    def ready(self, ticket):
        """Whether the answer to look ``ticket`` has come (never waits). A child silent for
        ``ANSWER_S`` since the look was sent is given up (the look is then made here)."""
        if self.lost is not None:
            return True  # made here when collected
        try:
            while ticket not in self._answered and self._answers.poll():
                self._take(self._receive(self.ANSWER_S))
            silent_s = time.monotonic() - self._asked[ticket][0]
            if ticket not in self._answered and silent_s > self.ANSWER_S:
                raise ModelError("the family classifier process did not answer in "
                                 f"{self.ANSWER_S:g} s")
        except ModelError as exc:
            self._lose(exc)
            return True
        if ticket not in self._answered:
            return False
        self.ready_s.append(time.monotonic() - self._asked[ticket][0])
        return True

    def answer(self, ticket):
        """(family, confidence) of the look ``ticket``, waiting for it if need be; looks
        asked before it and never collected are forgotten. Without the child (it ended, or
        did not answer in ``ANSWER_S``), the look is made here: the same answer, later."""
        if self.lost is None and ticket not in self._answered:
            self.waits += not self._answers.poll()
            try:
                while ticket not in self._answered:
                    self._take(self._receive(self.ANSWER_S))
            except ModelError as exc:
                self._lose(exc)
        asked, answered = self._asked.pop(ticket), self._answered.pop(ticket, None)
        self._asked = {t: look for t, look in self._asked.items() if t > ticket}
        self._answered = {t: a for t, a in self._answered.items() if t > ticket}
        return answered if answered is not None else self.classifier.predict(*asked[1:])

    def _take(self, message):
        """Keep an answer from the child (one of a look not yet collected)."""
        ticket, index, conf = ANSWER.unpack(message)
        if ticket in self._asked:
            self._answered[ticket] = (str(self.classes_[index]), conf)

    def _lose(self, error):
        self.lost = str(error)
        if self._child is not None:
            self._child.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self, timeout_s=2.0):
        """End the child (idempotent)."""
        child, self._child = self._child, None
        if child is None:
            return
        for end in ("_requests", "_answers"):
            if hasattr(self, end):
                getattr(self, end).close()
        child.stdin.close()  # end of input: the child exits
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


def run(config):
    """The child's life: load the model, then answer looks until the end of input."""
    from rtnote.classifier import load_model

    requests = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a library's print must not land in the answers
    try:
        classifier = load_model(config["path"], trust=True)  # the parent checked the file
    except Exception as exc:  # noqa: BLE001 - one line to the parent
        answers.send_bytes(f"error: {exc}".encode())
        return 1
    index = {str(c): i for i, c in enumerate(classifier.classes_)}
    answers.send_bytes(b"ready")
    gc.collect()
    gc.freeze()
    while True:
        try:
            message = requests.recv_bytes()
        except (EOFError, OSError):
            return 0
        ticket, sr, f0_hz = REQUEST.unpack_from(message)
        y = np.frombuffer(message, dtype=np.float32, offset=REQUEST.size)
        family, conf = classifier.predict(y, sr, f0_hz)
        answers.send_bytes(ANSWER.pack(ticket, index[family], conf))


def main():
    try:
        code = run(json.loads(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 - never a traceback on the user's terminal
        print(f"rtnote: family classifier process failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
