"""Where the instrument-family classifier plugs into the analyzer.

A classifier is any object with ``predict(y, sr, f0_hz) -> (family, confidence)``: ``y`` is
the audio from the note's onset [float32 samples at ``sr`` Hz], ``f0_hz`` its pitch [Hz].
The stage asks it at the note_on (with the audio heard so far) and again at each of
``looks_s`` after the onset that the note_on had not yet heard, while the note sounds; an
answer that changes the family becomes a FamilyUpdate event.
"""

from dataclasses import replace

from rtnote.events import FamilyUpdate, NoteOff, NoteOn, midi_to_hz


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
        decision; the audio given is the note up to then).
    """

    def __init__(self, classifier, sr, history, looks_s=(0.1, 0.4)):
        self.classifier = classifier
        self.sr = sr
        self.history = history
        self.looks = [min(int(s * sr), history.size) for s in looks_s]
        self.reset()

    def reset(self):
        self._note = None  # the sounding note_on, with its current family
        self._looks_done = 0

    def _classify(self, note, stop):
        y = self.history.segment(note.onset_sample, stop)
        f0_hz = midi_to_hz(note.pitch + note.cents / 100.0)
        family, conf = self.classifier.predict(y, self.sr, f0_hz)
        return family, float(conf)

    def on_event(self, event):
        """Pass a note event through, with the family filled in on a note_on."""
        if self.classifier is None:
            return event
        if isinstance(event, NoteOn):
            family, conf = self._classify(event, event.decision_sample)
            event = replace(event, family=family, family_conf=conf)
            # a late decision heard more than the first looks: asking them again would
            # repeat this answer (and crowd several predictions into one hop)
            heard = event.decision_sample - event.onset_sample
            self._note, self._looks_done = event, sum(heard >= n for n in self.looks)
        elif isinstance(event, NoteOff) and self._note and event.note_id == self._note.note_id:
            self._note = None
        return event

    def step(self, pos):
        """Per hop: the next look at the sounding note, if due. Returns 0 or 1 events."""
        note = self._note
        if note is None or self._looks_done >= len(self.looks):
            return []
        if pos < note.onset_sample + self.looks[self._looks_done]:
            return []
        self._looks_done += 1
        family, conf = self._classify(note, pos)
        if family == note.family:
            return []
        self._note = replace(note, family=family, family_conf=conf)
        return [FamilyUpdate(note.note_id, note.onset_sample, pos, self.sr, family, conf)]
