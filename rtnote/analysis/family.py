"""Where the instrument-family classifier plugs into the analyzer.

A classifier is any object with ``predict(y, sr, f0_hz) -> (family, confidence)``: ``y`` is
the audio from the note's onset [float32 samples at ``sr`` Hz], ``f0_hz`` its pitch [Hz].
The stage asks it at the note_on (with the audio heard so far) and again at each of
``looks_s`` after the onset that the note_on had not yet heard, while the note sounds; an
answer that changes the family becomes a FamilyUpdate event ``answer_s`` after the look.

A classifier with ``submit(y, sr, f0_hz) -> ticket``, ``ready(ticket) -> bool`` and
``answer(ticket) -> (family, confidence)`` makes its looks elsewhere
(:class:`rtnote.classifier_process.ClassifierProcess`) while the worker goes on: a note_on
(and what follows it) is held until its answer has come, and a later look is collected
when due; any other classifier is asked at once (note_on) or when the answer is due. The
events are the same either way; only when they come out differs.
"""

from collections import deque
from dataclasses import replace

from rtnote.events import FamilyUpdate, NoteOff, NoteOn, midi_to_hz


def later_looks_s(classifier):
    """The looks [seconds after the onset] a classifier is asked again at, after the
    note_on's: its ``later_looks_s``, or (0.1, 0.4)."""
    return tuple(getattr(classifier, "later_looks_s", (0.1, 0.4)))


class FamilyStage:
    """Fills ``family``/``family_conf`` of note_on events and emits family updates.

    Parameters
    ----------
    classifier : object or None
        See module docstring; None leaves the family fields null.
    sr : int > 0 [Hz]
    history : rtnote.analysis.history.History
    looks_s : tuple of float > 0 [seconds]
        When after the onset the note is classified again (the first is the ~100 ms
        decision; the audio given is the note up to then): :func:`later_looks_s`.
    answer_s : float >= 0 [seconds]
        How long after a later look its answer is due (a family_update's decision sample).
    """

    def __init__(self, classifier, sr, history, looks_s, answer_s=0.01):
        self.classifier = classifier
        self.sr = sr
        self.history = history
        self.looks = [min(int(s * sr), history.size) for s in looks_s]
        self.answer_len = int(answer_s * sr)
        self._asker = classifier if hasattr(classifier, "submit") else _AskedWhenDue(classifier)
        self.reset()

    def reset(self):
        self._note = None  # the sounding note_on, with its current family
        self._looks_done = 0
        self._asked = None  # (note_on, sample its answer is due, ticket)
        self._held = deque()  # (event, ticket of its look or None), oldest first
        self._ready = []  # events out of the hold, not yet returned

    def _look(self, note, stop):
        """(audio from the note's onset to ``stop``, its pitch [Hz])."""
        return (self.history.segment(note.onset_sample, stop),
                midi_to_hz(note.pitch + note.cents / 100.0))

    def on_event(self, event):
        """Take a note event; a note_on is looked at (its family filled in when answered)."""
        ticket = None
        if self.classifier is not None and isinstance(event, NoteOn):
            y, f0_hz = self._look(event, event.decision_sample)
            ticket = self._asker.submit(y, self.sr, f0_hz)
            # a late decision heard more than the first looks: asking them again would
            # repeat this answer (and crowd several predictions into one hop)
            heard = event.decision_sample - event.onset_sample
            self._note, self._looks_done = event, sum(heard >= n for n in self.looks)
        elif isinstance(event, NoteOff) and self._note and event.note_id == self._note.note_id:
            self._note = None
        self._held.append((event, ticket))

    def step(self, pos):
        """Per hop: the answer to the last look, if due, then the next look, if due."""
        self._answer(pos)
        note = self._note
        if note is not None and self._looks_done < len(self.looks) \
                and pos >= note.onset_sample + self.looks[self._looks_done]:
            self._looks_done += 1
            y, f0_hz = self._look(note, pos)
            self._asked = (note, pos + self.answer_len, self._asker.submit(y, self.sr, f0_hz))
            self._answer(pos)

    def events(self, wait=False):
        """The events whose family is known, in order, since the last call: all taken
        events up to the first note_on whose answer has not come (``wait``: all of them)."""
        self._release(wait)
        events, self._ready = self._ready, []
        return events

    def _release(self, wait):
        while self._held:
            event, ticket = self._held[0]
            if ticket is not None:
                if not (wait or self._asker.ready(ticket)):
                    break
                family, conf = self._asker.answer(ticket)
                event = replace(event, family=family, family_conf=float(conf))
                if self._note is not None and self._note.note_id == event.note_id:
                    self._note = replace(self._note, family=family, family_conf=float(conf))
            self._ready.append(event)
            self._held.popleft()

    def _answer(self, pos):
        if self._asked is None or pos < self._asked[1]:
            return
        asked_note, _, ticket = self._asked
        self._asked = None
        note = self._note
        if note is None or note.note_id != asked_note.note_id:  # it has ended (an answer
            return  # asked elsewhere is dropped by the next answer())
        if note.family is None:  # its note_on's answer has not come yet: wait for it
            self._release(wait=True)
            note = self._note
        family, conf = self._asker.answer(ticket)
        if family == note.family:
            return
        self._note = replace(note, family=family, family_conf=float(conf))
        self._held.append((FamilyUpdate(note.note_id, note.onset_sample, pos, self.sr, family,
                                        float(conf)), None))


class _AskedWhenDue:
    """``submit``/``answer`` for a classifier with only ``predict``: the look is kept and
    asked when its answer is due."""

    def __init__(self, classifier):
        self.classifier = classifier

    def submit(self, y, sr, f0_hz):
        return y.copy(), sr, f0_hz  # the history moves on

    def ready(self, ticket):
        return True

    def answer(self, ticket):
        return self.classifier.predict(*ticket)
