"""Note tracking: a small state machine from onsets, levels and pitch to note events.

States: idle, pending (an attack was heard, waiting for a confident pitch) and sounding.
A note_on is emitted as soon as the pitch of the audio since the attack is confident and
stable; a low note therefore takes longer (it needs ``min_periods`` of its period).
"""

import math

import numpy as np

from rtnote.analysis.pitch import yin
from rtnote.events import NoteOff, NoteOn, hz_to_midi

#: Latency presets: periods of the note needed before deciding, agreeing estimates, and the
#: shortest segment [seconds] looked at.
LATENCY_PRESETS = {
    "low": dict(min_periods=2.0, confirm=1, min_segment_s=0.004),
    "balanced": dict(min_periods=2.5, confirm=2, min_segment_s=0.005),
    "accurate": dict(min_periods=4.0, confirm=3, min_segment_s=0.02),
}


def level_to_velocity(level_db, silence_db):
    """MIDI velocity 1-127 from an attack's peak level [dBFS], linear in dB above silence."""
    return int(np.clip(round(127 * (level_db - silence_db) / -silence_db), 1, 127))


class _Pending:
    """An attack waiting for its pitch."""

    def __init__(self, onset):
        self.onset = onset
        self.last_midi = None
        self.agree = 0
        self.peak_db = -math.inf
        self.best = (math.inf, None)  # (aperiodicity, f0_hz) of the most periodic look


class _Sounding:
    """The note that is on."""

    def __init__(self, note_id, onset, pitch, f0_hz, peak_db):
        self.note_id = note_id
        self.onset = onset
        self.pitch = pitch
        self.f0_hz = f0_hz
        self.peak_db = peak_db
        self.change_at = None  # where a legato pitch change began [sample]
        self.change_midi = None
        self.change_count = 0
        self.revised = False


class NoteTracker:
    """Turns per-hop onsets and levels into note_on/note_off events.

    Parameters
    ----------
    sr : int > 0 [Hz]
    hop_length : int > 0 [samples]
    history : rtnote.analysis.history.History
        Recent input, for pitch segments.
    fmin, fmax : float [Hz]
        Pitch range.
    a4_hz : float > 0 [Hz]
        Tuning reference.
    latency : {'low', 'balanced', 'accurate'}
        See LATENCY_PRESETS.
    silence_db : float < 0 [dBFS]
        Level below which nothing sounds.
    release_db : float > 0 [dB]
        A note ends when its level falls this far below its attack peak.
    max_wait_s : float > 0 [seconds]
        Longest wait for a confident pitch after an attack.
    check_s : float > 0 [seconds]
        How often a sounding note's pitch is checked for legato changes.
    threshold : float in (0, 1)
        YIN threshold; estimates with a higher aperiodicity are not trusted.
    revise_s : float > 0 [seconds]
        When, after the onset, a note's pitch is checked once more past the attack; a
        different pitch replaces the note (note_off, then a note_on with ``replaces``).
    """

    def __init__(self, sr, hop_length, history, fmin, fmax, a4_hz=440.0, latency="balanced",
                 silence_db=-60.0, release_db=40.0, max_wait_s=0.15, check_s=0.006,
                 threshold=0.2, revise_s=0.08):
        preset = LATENCY_PRESETS[latency]
        self.sr = sr
        self.hop_length = hop_length
        self.history = history
        self.fmin = fmin
        self.fmax = fmax
        self.a4_hz = a4_hz
        self.min_periods = preset["min_periods"]
        self.confirm = preset["confirm"]
        self.min_segment = max(int(preset["min_segment_s"] * sr), 2 * int(sr / fmax) + 8)
        self.attack_skip = int(0.002 * sr)
        self.silence_db = silence_db
        self.release_db = release_db
        self.max_wait = int(max_wait_s * sr)
        self.check_every = max(1, int(round(check_s * sr / hop_length)))
        self.legato_window = int(0.012 * sr)
        self.revise_at = int(revise_s * sr)
        self.revise_skip = int(0.3 * revise_s * sr)
        self.threshold = threshold
        self.reset()

    def reset(self):
        self._pending = None
        self._note = None
        self._next_id = getattr(self, "_next_id", 0)
        self._hops = 0

    # -- helpers ---------------------------------------------------------------------------

    def _pitch(self, start, stop):
        """(f0 [Hz], aperiodicity) of input samples [start, stop)."""
        return yin(self.history.segment(start, stop), self.sr, self.fmin, self.fmax,
                   self.threshold)

    def _note_off(self, offset, pos):
        note, self._note = self._note, None
        return NoteOff(note.note_id, note.onset, max(offset, note.onset), pos, self.sr,
                       note.pitch)

    def _note_on(self, onset, pos, f0_hz, peak_db, replaces=None):
        midi = hz_to_midi(f0_hz, self.a4_hz)
        pitch = int(np.clip(round(midi), 0, 127))
        note_id = self._next_id
        self._next_id += 1
        self._note = _Sounding(note_id, onset, pitch, f0_hz, peak_db)
        cents = float(np.clip(round(100.0 * (midi - pitch), 1), -50.0, 50.0))
        return NoteOn(note_id, onset, pos, self.sr, pitch, cents,
                      level_to_velocity(peak_db, self.silence_db), replaces=replaces)

    # -- per hop -----------------------------------------------------------------------------

    def step(self, pos, onset, level_db):
        """Advance one hop.

        Parameters
        ----------
        pos : int
            Samples consumed so far (the end of this hop) [samples].
        onset : int or None
            Estimated onset sample if an attack was detected at this hop.
        level_db : float
            Level of the newest audio [dBFS].

        Returns
        -------
        list of events
        """
        self._hops += 1
        events = []
        note = self._note
        if note is not None:
            if level_db < max(self.silence_db, note.peak_db - self.release_db):
                events.append(self._note_off(pos - self.hop_length, pos))
                note = None
            else:
                note.peak_db = max(note.peak_db, level_db)
        if onset is not None and level_db > self.silence_db:
            self._pending = _Pending(onset)
        elif (note is None and self._pending is None and level_db > self.silence_db + 12
              and self._hops % self.check_every == 0):
            # a note that began without a detectable attack (a soft fade-in)
            self._pending = _Pending(pos - self.check_every * self.hop_length)
        if self._pending is not None:
            events += self._step_pending(pos, level_db)
        elif note is not None and not note.revised and pos - note.onset >= self.revise_at:
            events += self._revise(pos)
        elif note is not None and self._hops % self.check_every == 0:
            events += self._check_legato(pos)
        return events

    def _step_pending(self, pos, level_db):
        pending = self._pending
        pending.peak_db = max(pending.peak_db, level_db)
        if level_db <= self.silence_db:
            self._pending = None
            return []
        start = pending.onset + self.attack_skip
        if pos - start < self.min_segment:
            return []
        f0_hz, aperiodicity = self._pitch(start, pos)
        waited = (pos - pending.onset) / self.max_wait  # 0 -> 1
        if pos - pending.onset > self.max_wait:
            # no confident pitch in time: take the most periodic look, if any was fair
            self._pending = None
            ap, f0_hz = pending.best
            return self._start_note(pending, pos, f0_hz) if ap < 2 * self.threshold else []
        if not np.isfinite(f0_hz) or self.sr / f0_hz * self.min_periods > pos - start:
            pending.agree = 0
            return []
        if aperiodicity < pending.best[0]:
            pending.best = (aperiodicity, f0_hz)
        if aperiodicity > self.threshold * (1.0 + waited):
            pending.agree = 0
            return []
        midi = round(hz_to_midi(f0_hz, self.a4_hz))
        pending.agree = pending.agree + 1 if midi == pending.last_midi else 1
        pending.last_midi = midi
        # the sounding note's pitch may just be its own tail under a new, weaker attack:
        # a repeated note needs more looks
        needed = self.confirm
        if self._note is not None and midi == self._note.pitch:
            needed = 3 * self.confirm + 2
        if pending.agree < needed:
            return []
        self._pending = None
        return self._start_note(pending, pos, f0_hz)

    def _start_note(self, pending, pos, f0_hz):
        events = []
        if self._note is not None:
            events.append(self._note_off(pending.onset, pos))
        events.append(self._note_on(pending.onset, pos, f0_hz, pending.peak_db))
        return events

    def _revise(self, pos):
        """One longer look at a young note, past its attack: a different pitch replaces it
        (same onset), since attacks are often bent, noisy or an octave off."""
        note = self._note
        note.revised = True
        f0_hz, aperiodicity = self._pitch(note.onset + self.revise_skip, pos)
        if not aperiodicity < self.threshold:
            return []
        pitch = round(hz_to_midi(f0_hz, self.a4_hz))
        if pitch == note.pitch:
            note.f0_hz = f0_hz
            return []
        onset, peak_db, note_id = note.onset, note.peak_db, note.note_id
        events = [self._note_off(pos, pos), self._note_on(onset, pos, f0_hz, peak_db, note_id)]
        self._note.revised = True
        return events

    def _check_legato(self, pos):
        """Look for a pitch change without a new attack (slurs, legato)."""
        note = self._note
        period = self.sr / note.f0_hz
        length = int(min(max(4 * period, self.legato_window), self.history.size))
        f0_hz, aperiodicity = self._pitch(pos - length, pos)
        if not aperiodicity < self.threshold:
            note.change_count = 0
            return []
        midi = hz_to_midi(f0_hz, self.a4_hz)
        interval = abs(midi - hz_to_midi(note.f0_hz, self.a4_hz))
        if interval < 0.6 or abs(interval - 12 * round(interval / 12)) < 0.6:
            # same note, or an octave away: far likelier an estimator slip than a slur
            note.change_count = 0
            return []
        rounded = round(midi)
        if note.change_count and rounded == note.change_midi:
            note.change_count += 1
        else:
            note.change_at, note.change_midi, note.change_count = pos - length // 2, rounded, 1
        if note.change_count < self.confirm + 1:
            return []
        onset, peak_db = note.change_at, note.peak_db
        return [self._note_off(onset, pos), self._note_on(onset, pos, f0_hz, peak_db)]

    def finish(self, pos):
        """End the sounding note (end of stream or a gap)."""
        self._pending = None
        return [self._note_off(pos, pos)] if self._note is not None else []
