"""The family classifier's later looks in a process of their own (live runs).

A look at a note costs the worker 2-5 ms when its caches are cold (once a note, every
100 ms or so), against a step of 5.3 ms at 256 frames and 48 kHz: with three looks a note
on the worker, a few steps in ten minutes overran their deadline. The note_on's own look
has to be on the worker (the note_on carries its answer); the later looks (0.1, 0.4 and 1 s)
only become family_update events, so :class:`ClassifierProcess` sends them to a child that
holds its own copy of the model, and the worker collects each answer a fixed time later
(:class:`rtnote.analysis.family.FamilyStage` waits the same time without the child: events
are identical either way).

The parent runs ``python -m rtnote.classifier_process CONFIG`` with SIGINT, SIGTERM and
SIGHUP blocked (the parent handles them and stops the child) and talks to it in
length-prefixed messages (:class:`multiprocessing.connection.Connection`):

1. child -> ``ready`` once the model is loaded, or ``error: ...`` and exit 1;
2. parent -> a request (ticket, sample rate, pitch, float32 samples); child -> its answer
   (ticket, family index, confidence), in order;
3. end of input (the parent closed it, or died): the child exits 0.
"""

import gc
import json
import os
import struct
import subprocess
import sys
from multiprocessing.connection import Connection

import numpy as np

from rtnote import interrupts
from rtnote.errors import ModelError

REQUEST = struct.Struct("<qid")  # ticket, sample rate [Hz], pitch [Hz]; then the samples
ANSWER = struct.Struct("<qid")  # ticket, family index, confidence


class ClassifierProcess:
    """A family classifier whose :meth:`submit`/:meth:`answer` looks run in a child process;
    :meth:`predict` runs here (the note_on's look).

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

    def __init__(self, classifier):
        self.classifier = classifier
        self.classes_ = classifier.classes_
        self.later_looks_s = classifier.later_looks_s
        self._ticket = 0
        self._asked = {}  # ticket -> (y, sr, f0_hz) of the looks not yet answered
        self.lost = None  # why the child was given up (its looks are then made here)
        self.waits = 0  # answers the worker had to wait for
        config = {"path": classifier.path}
        self._child = None
        try:
            with interrupts.held():
                self._child = subprocess.Popen(
                    [sys.executable, "-m", "rtnote.classifier_process", json.dumps(config)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
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

    def predict(self, y, sr, f0_hz):
        """(family, confidence) of a note, computed here; see FamilyClassifier.predict."""
        return self.classifier.predict(y, sr, f0_hz)

    def submit(self, y, sr, f0_hz):
        """Send a look to the child; returns its ticket for :meth:`answer`."""
        self._ticket += 1
        y = np.array(y, dtype=np.float32)  # kept until answered
        self._asked[self._ticket] = (y, int(sr), float(f0_hz))
        if self.lost is None:
            try:
                self._requests.send_bytes(REQUEST.pack(self._ticket, int(sr), float(f0_hz)) + y.tobytes())
            except OSError:
                self._lose(ModelError("the family classifier process ended unexpectedly"))
        return self._ticket

    def answer(self, ticket):
        """(family, confidence) of the look ``ticket``, waiting for it if need be; looks
        asked before it and never collected are forgotten. Without the child (it ended, or
        did not answer in ``ANSWER_S``), the look is made here: the same answer, later."""
        asked = self._asked.pop(ticket)
        self._asked = {t: look for t, look in self._asked.items() if t > ticket}
        if self.lost is None:
            self.waits += not self._answers.poll()
            try:
                while True:
                    got, index, conf = ANSWER.unpack(self._receive(self.ANSWER_S))
                    if got == ticket:
                        return str(self.classes_[index]), conf
            except ModelError as exc:
                self._lose(exc)
        return self.classifier.predict(*asked)

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
