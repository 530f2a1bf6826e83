"""Note tracking: a small state machine from onsets, levels and pitch to note events.

States: idle, pending (an attack was heard, waiting for a confident pitch) and sounding.
A note_on is emitted as soon as the pitch of the audio since the attack (or of its later
half, when the attack is noisy) is confident and stable; a low note therefore takes longer
(it needs ``min_periods`` of its period). A young note stays provisional until a look past
its attack confirms its pitch; a provisional note whose pitch turns out different is
replaced (a note_on with ``replaces``, same onset). A new note's onset is where its own
harmonics began to rise, which for a swell heard late is before the attack that was seen.
"""

import math

import numpy as np

from rtnote.analysis.onset import harmonic_rise
from rtnote.analysis.pitch import cancel, fundamental_db, refine_f0, yin
from rtnote.events import NoteOff, NoteOn, hz_to_midi

#: Latency presets: periods of the note needed before deciding, agreeing estimates, and the
#: shortest segment [seconds] looked at.
LATENCY_PRESETS = {
    "low": dict(min_periods=2.0, confirm=1, min_segment_s=0.004),
    "balanced": dict(min_periods=2.0, confirm=2, min_segment_s=0.005),
    "accurate": dict(min_periods=4.0, confirm=3, min_segment_s=0.02),
}


def _multiple(ratio, tolerance=0.02):
    """The integer k >= 1 that ``ratio`` is within ``tolerance`` (relative) of, else 0."""
    k = round(ratio) if np.isfinite(ratio) else 0
    return k if k >= 1 and abs(ratio - k) <= tolerance * k else 0


def _swooped(path, midi, reach=2, span=4):
    """True when a note reported at the pitches ``path`` (corrections included, MIDI) has
    turned back at least once (up then down, or down then up) within ``span`` semitones, and
    ``midi`` lies within ``reach`` of its last pitch: the note is settling after a swoop
    (TimGM6mb's shakuhachi rises 2.7 semitones in 50 ms, wavers, and settles at its
    note 270 ms in), not changing to a new one."""
    turned = any((b - a) * (c - b) < 0 for a, b, c in zip(path, path[1:], path[2:]))
    return turned and max(path) - min(path) <= span and abs(midi - path[-1]) <= reach


def _held_levels(levels, n):
    """The highest of each ``n`` consecutive ``levels`` [dB], in their order: what the level
    stayed under for ``n`` hops."""
    return [max(levels[k:k + n]) for k in range(len(levels) - n + 1)]


def level_to_velocity(level_db, silence_db):
    """MIDI velocity 1-127 from an attack's peak level [dBFS], linear in dB above silence."""
    return int(np.clip(round(127 * (level_db - silence_db) / -silence_db), 1, 127))


class _Pending:
    """An attack waiting for its pitch."""

    def __init__(self, onset, dip_db=-math.inf, gap_db=-math.inf, swell=False, faded=False):
        self.onset = onset
        self.faded = faded  # no attack: a rise in level with no note sounding
        self.swell = swell  # no attack, a rise in level while a note sounds
        self.dip_db = dip_db  # lowest level just before the attack [dBFS]
        self.gap_db = gap_db  # the level it stayed under for release_hold_s just before [dBFS]
        self.last_midi = None
        self.agree = 0
        self.peak_db = -math.inf
        self.best = (math.inf, None)  # (aperiodicity, f0_hz) of the most periodic look


class _Sounding:
    """The note that is on."""

    def __init__(self, note_id, onset, pitch, f0_hz, peak_db, over_hz, path):
        self.note_id = note_id
        self.onset = onset
        self.pitch = pitch
        self.path = path  # its pitches as reported, the first one and every correction [MIDI]
        self.f0_hz = f0_hz
        self.peak_db = peak_db
        self.change_at = None  # where a legato pitch change began [sample]
        self.change_midi = None
        self.change_first = None  # the first look at that pitch [MIDI, fractional]
        self.change_count = 0
        self.confirmed = False  # a look past the attack agreed with the pitch
        self.corrected_fading = False  # corrected (or looked at) in a fading tail: stays provisional
        self.over_hz = over_hz  # f0 of the note this one began over (it may still ring) [Hz]


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
        A note ends when its level falls this far below its attack peak...
    release_hold_s : float >= 0 [seconds]
        ... and stays there this long (the beats of detuned strings dip 20 dB for 10-20 ms);
        its offset is where it fell.
    max_wait_s : float > 0 [seconds]
        Longest wait for a confident pitch after an attack.
    check_s : float > 0 [seconds]
        How often a sounding note's pitch is checked for legato changes.
    threshold : float in (0, 1)
        YIN threshold; estimates with a higher aperiodicity are not trusted.
    relax : float >= 0
        While waiting, the threshold grows to ``threshold * (1 + relax)`` at ``max_wait_s``.
    fallback_threshold : float > 0
        At ``max_wait_s`` without a confident pitch, the most periodic look is taken if its
        aperiodicity is below this; otherwise the attack is dropped.
    reattack_db : float > 0 [dB]
        A note of the sounding pitch counts as repeated only if its attack rises this far
        above the lowest level of the 50 ms before it.
    gap_db : float > 0 [dB]
        After a gap this far below the sounding note's peak (held for ``release_hold_s``),
        such an attack is judged at the top of its rise, not when its pitch is first heard
        (an English horn's repeated note is heard 5 dB into a 20 dB rise).
    missing_db : float > 0 [dB]
        A pitch change an octave or more down needs its fundamental's own spectral peak within
        this of the strongest.
    revise_s : float > 0 [seconds]
        Age at which a look past the attack can confirm a note's pitch.
    change_db : float > 0 [dB]
        Pitch changes count only while the note is within this of its peak level.
    change_search_s : float > 0 [seconds]
        How far before the first look that saw a legato change its onset is searched for.
    change_odf : float > 0
        A provisional note's pitch change is a new note, not a correction, when an ODF peak
        this strong marks it at least 60 ms after the note's onset; a confirmed note's
        change by octaves counts only with such a peak (else: an estimator slip); so does a
        fade-in of the last note's pitch within 0.3 s of its end (else: its tail).
    decay_db : float > 0 [dB]
        Such a change is a new note only while the provisional note is within this of its
        peak level; further down it is a correction: a struck bar's pitch drifts as its
        partials die (a marimba's 47, read 47.9 at first, falls to 47.1 over 200 ms, 12 dB
        down, with a spectral change).
    provisional_s : float > 0 [seconds]
        Until confirmed, and at most this long, a steady different pitch replaces the note
        (note_off, then a note_on with the same onset and ``replaces``).
    swell_db : float > 0 [dB]
        A sounding note that faded this far below its peak and rises this far again without
        an attack is looked at again, as an attack would be (a swell the flux misses).
    reswell_db : float > 0 [dB]
        Such a swell at the sounding note's own pitch is a new note only when it rises this
        far above the lowest level of the 50 ms before it, back to within 10 dB of the
        note's peak (a horn's soft repeated note; a tremolo's swells are shallower).
    fade_in_db : float > 0 [dB]
        A note that begins without an attack (a fade-in, 6 dB or more above silence) must rise
        this far above the lowest level of the last 150 ms (a soft sax note at -53 dBFS was
        missed when it had to stand 12 dB above silence; a tail is not a rise).
    change_spread : float > 0 [semitones]
        The looks that agree on a pitch change must also lie within this of the first of
        them: a glide passing through a semitone (a shakuhachi's scoop) is not a new pitch.
    """

    def __init__(self, sr, hop_length, history, fmin, fmax, a4_hz=440.0, latency="balanced",
                 silence_db=-60.0, release_db=40.0, max_wait_s=0.15, check_s=0.024,
                 threshold=0.2, revise_s=0.15, reattack_db=9.0, relax=1.0, provisional_s=0.5,
                 change_db=20.0, change_search_s=0.1, fallback_threshold=0.4, change_odf=0.25,
                 swell_db=12.0, reswell_db=15.0, change_spread=0.4, release_hold_s=0.02,
                 fade_in_db=10.0, gap_db=20.0, missing_db=30.0, decay_db=10.0):
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
        self.max_segment = int(3.0 * sr / fmin)  # 3 periods of the lowest note
        self.silence_db = silence_db
        self.release_db = release_db
        self.max_wait = int(max_wait_s * sr)
        self.check_every = max(1, int(round(check_s * sr / hop_length)))
        self.legato_window = int(0.012 * sr)
        self.dip_hops = max(2, int(round(0.05 * sr / hop_length)))
        self.fade_hops = max(2, int(round(0.15 * sr / hop_length)))
        self.hold_hops = int(round(release_hold_s * sr / hop_length))
        self.reattack_db = reattack_db
        self.gap_db = gap_db
        self.missing_db = missing_db
        self.relax = relax
        self.revise_at = int(revise_s * sr)
        self.revise_skip = int(0.3 * revise_s * sr)
        self.provisional = int(provisional_s * sr)
        self.change_db = change_db
        self.change_search_s = change_search_s
        self.fallback_threshold = fallback_threshold
        self.change_odf = change_odf
        self.decay_db = decay_db
        self.swell_db = swell_db
        self.reswell_db = reswell_db
        self.change_spread = change_spread
        self.fade_in_db = fade_in_db
        self.new_note_gap = int(0.06 * sr)
        self.tail_gap = int(0.3 * sr)  # a fade-in of the last note's pitch this soon: its tail
        self.rise_search = int(0.25 * sr)
        self.odf_hops = max(2, int(round((change_search_s + 0.1) * sr / hop_length)))
        self.threshold = threshold
        self.reset()

    def reset(self):
        self._pending = None
        self._note = None
        self._last_offset = -math.inf  # where the last note ended [sample]
        self._last_note = None
        self._next_id = getattr(self, "_next_id", 0)
        self._hops = 0
        self._levels = [-math.inf] * self.fade_hops  # recent levels [dBFS], oldest first
        self._odf = np.zeros(self.odf_hops)  # recent onset detection function
        self._swelling = False

    # -- helpers ---------------------------------------------------------------------------

    def _pitch(self, start, stop, ringing_hz=None):
        """(f0 [Hz], aperiodicity) of input samples [start, stop).

        With ``ringing_hz`` [Hz], a note that may still sound: a look whose period is a
        multiple of that note's may be the period of the two together (a new note over the
        last one's release: 494 Hz and 740 Hz repeat at 247 Hz). It is looked at again with
        the ringing note cancelled, and a higher pitch whose period divides the look's is
        the new note's.
        """
        y = self.history.segment(start, stop)
        f0_hz, aperiodicity = yin(y, self.sr, self.fmin, self.fmax, self.threshold)
        if ringing_hz is not None and _multiple(ringing_hz / f0_hz) >= 2:
            f, ap = self._cancelled_pitch(start, stop, ringing_hz, 2 * f0_hz)
            if _multiple(f / f0_hz) >= 2:
                return f, ap
        return f0_hz, aperiodicity

    def _cancelled_pitch(self, start, stop, ringing_hz, lowest_hz):
        """(f0 [Hz], aperiodicity) of what else sounds in input samples [start, stop) with a
        note of ``ringing_hz`` [Hz] cancelled (nan when nothing periodic is left but that
        note's multiples). The look starts earlier when needed to hold 2.5 periods of
        ``lowest_hz`` [Hz] once cancelled."""
        start = min(start, stop - int(self.sr / ringing_hz + 2.5 * self.sr / lowest_hz))
        y = cancel(self.history.segment(start, stop), self.sr / ringing_hz)
        f0_hz, aperiodicity = yin(y, self.sr, self.fmin, self.fmax, self.threshold)
        if aperiodicity < self.threshold and not _multiple(f0_hz / ringing_hz):
            return f0_hz, aperiodicity
        return np.nan, 1.0

    def _is_new_pitch(self, note, f0_hz, start, pos):
        """True when a look at ``f0_hz`` [Hz], an octave or more from the sounding note, is a
        new note, not YIN slipping to a multiple or a fraction of the note's period: below
        it, the lower pitch is still heard in the input [start, pos) with the note
        cancelled; above it, the note is no longer heard with the higher pitch cancelled."""
        if f0_hz < note.f0_hz:
            f, _ = self._cancelled_pitch(start, pos, note.f0_hz, f0_hz)
            return _multiple(f / f0_hz) == 1
        f, _ = self._cancelled_pitch(start, pos, f0_hz, note.f0_hz)
        return _multiple(f / note.f0_hz) != 1

    def _held(self, level_db, f0_hz):
        """Highest level [dBFS] over the last period of ``f0_hz`` [Hz] and at least
        ``release_hold_s``, this hop's ``level_db`` included: measured over a few ms, a low
        note's level dips between the peaks of its waveform (20 dB at E1), and a note of
        detuned strings (honky-tonk) between its beats."""
        period_hops = math.ceil(self.sr / f0_hz / self.hop_length)
        n = min(self.fade_hops, max(self.hold_hops, period_hops))
        return max(self._recent_levels(n + 1, this_hop=True))

    def _dip_db(self):
        """Lowest level of the 50 ms before this hop [dBFS] (what an attack rises from)."""
        return min(self._recent_levels(self.dip_hops))

    def _gap_db(self):
        """The level [dBFS] the sound stayed under for ``release_hold_s`` in the 50 ms before
        this hop: a gap between two notes lasts, the dips of a tremolo do not."""
        return min(_held_levels(self._recent_levels(self.dip_hops), max(1, self.hold_hops)))

    def _recent_levels(self, n, this_hop=False):
        """The levels of the ``n`` hops before this one (or up to this one) [dBFS], oldest
        first (``n`` <= ``fade_hops``)."""
        end = len(self._levels) - (not this_hop)
        return self._levels[end - n:end]

    def _note_off(self, offset, pos):
        note, self._note = self._note, None
        self._last_note = note
        self._last_offset = max(offset, note.onset)
        return NoteOff(note.note_id, note.onset, self._last_offset, pos, self.sr, note.pitch)

    def _sound_start(self, onset, pos, f0_hz, ringing_hz=None):
        """A new note's onset [sample], moved back to where its harmonics began to rise
        (:func:`rtnote.analysis.onset.harmonic_rise`: swells, and attacks heard late under the
        last note's release), never before the last note ended or 60 ms after the sounding
        note began. With ``ringing_hz`` [Hz], the rise is looked for with that note (still
        sounding) cancelled."""
        after = self._last_offset if self._note is None else self._note.onset + self.new_note_gap
        start = int(max(onset - self.rise_search, self.history.start, after))
        lag = 0 if ringing_hz is None else int(self.sr / ringing_hz) + 1  # what cancel() drops
        if start + lag >= onset:
            return onset
        y = self.history.segment(start, pos)
        if ringing_hz is None:
            return start + harmonic_rise(y, self.sr, f0_hz, onset - start)
        # what is left of the ringing note (its vibrato defeats the cancellation) sits about
        # 20 dB down: the new note starts where it rises within 20 dB of its level now, and
        # a rise of 6 dB out of that residue is its own (a synth-strings note crossfading
        # from the last one rises 8 dB there). The level is then the new note's alone, and
        # it rose at the middle of the last frame below that (at its end, as without the
        # cancellation, slow strings' legato onsets came 50-75 ms late)
        y = cancel(y, self.sr / ringing_hz)
        return start + lag + harmonic_rise(y, self.sr, f0_hz, onset - start - lag, drop_db=20.0,
                                           min_rise_db=6.0, place=0.5)

    def _look(self, start, pos):
        """Input samples from ``start`` to ``pos``, at most ``max_segment`` of them."""
        return self.history.segment(max(start, pos - self.max_segment), pos)

    def _refined(self, f0_hz, start, pos):
        """The fundamental's own peak near ``f0_hz`` [Hz] in the input from ``start`` to
        ``pos`` [samples] (see rtnote.analysis.pitch.refine_f0)."""
        return refine_f0(self._look(start, pos), self.sr, f0_hz)

    def _note_on(self, onset, pos, f0_hz, peak_db, replaces=None, look_from=None):
        """A note_on; the pitch is the fundamental's peak near ``f0_hz`` in the audio
        from ``look_from`` (default: the onset past the attack) to ``pos``."""
        start = onset + self.attack_skip if look_from is None else look_from
        return self._note_on_at(onset, pos, self._refined(f0_hz, start, pos), peak_db, replaces)

    def _note_on_at(self, onset, pos, f0_hz, peak_db, replaces=None):
        """A note_on at the fundamental ``f0_hz`` [Hz], as refined."""
        midi = hz_to_midi(f0_hz, self.a4_hz)
        pitch = int(np.clip(round(midi), 0, 127))
        note_id = self._next_id
        self._next_id += 1
        last = self._last_note
        path = ()
        if replaces is not None:  # the same note, corrected
            over_hz, path = last.over_hz, last.path
        elif last is not None and self._last_offset >= onset and last.pitch != pitch:
            over_hz = last.f0_hz  # it sounded until this one began
        else:
            over_hz = None
        self._note = _Sounding(note_id, onset, pitch, f0_hz, peak_db, over_hz, path + (pitch,))
        cents = float(np.clip(round(100.0 * (midi - pitch), 1), -50.0, 50.0))
        return NoteOn(note_id, onset, pos, self.sr, pitch, cents,
                      level_to_velocity(peak_db, self.silence_db), replaces=replaces)

    # -- per hop -----------------------------------------------------------------------------

    def step(self, pos, onset, level_db, odf=0.0):
        """Advance one hop.

        Parameters
        ----------
        pos : int
            Samples consumed so far (the end of this hop) [samples].
        onset : int or None
            Estimated onset sample if an attack was detected at this hop.
        level_db : float
            Level of the newest audio [dBFS].
        odf : float
            Onset detection function at this hop (places onsets of legato changes).

        Returns
        -------
        list of events
        """
        self._hops += 1
        self._levels.append(level_db)
        if len(self._levels) > 4 * self.fade_hops:
            del self._levels[:-self.fade_hops - 1]
        events = []
        note = self._note
        if note is not None:
            end_db = max(self.silence_db, note.peak_db - self.release_db)
            if level_db < end_db and self._held(level_db, note.f0_hz) < end_db:
                events.append(self._note_off(pos - (self.hold_hops + 1) * self.hop_length, pos))
                note = None
            else:
                note.peak_db = max(note.peak_db, level_db)
        self._odf[self._hops % len(self._odf)] = odf
        if onset is not None and level_db > self.silence_db:
            self._pending = _Pending(onset, dip_db=self._dip_db(), gap_db=self._gap_db())
        elif (note is None and self._pending is None and level_db > self.silence_db + 6
              and self._hops % self.check_every == 0 and self._faded_in(level_db)):
            # a note that began without a detectable attack (a soft fade-in)
            self._pending = _Pending(self._fade_in_onset(pos), faded=True)
        elif note is not None and self._pending is None and self._swells(pos, level_db):
            # a note swelling out of the last one's release, too slowly for the flux
            self._pending = _Pending(self._fade_in_onset(pos), dip_db=self._dip_db(),
                                     gap_db=self._gap_db(), swell=True)
        if self._pending is not None:
            events += self._step_pending(pos, level_db)
        elif note is not None and self._hops % self.check_every == 0:
            if not note.confirmed and pos - note.onset > self.provisional:
                note.confirmed = True
            events += self._check_pitch(pos, level_db)
        return events

    def _step_pending(self, pos, level_db):
        pending = self._pending
        pending.peak_db = max(pending.peak_db, level_db)
        if level_db <= self.silence_db and self._held(level_db, self.fmin) <= self.silence_db:
            self._pending = None
            return []
        start = pending.onset + self.attack_skip
        if pos - start < self.min_segment:
            return []
        ringing_hz = self._note.f0_hz if self._note is not None else None
        f0_hz, aperiodicity = self._pitch(max(start, pos - self.max_segment), pos, ringing_hz)
        if aperiodicity > self.threshold and pos - start >= 2 * self.min_segment:
            # a noisy attack (breath, bow, hammer) can hide a pitch that already sounds:
            # look at the later half alone
            later = (start + pos) // 2
            f, ap = self._pitch(later, pos, ringing_hz)
            if ap < aperiodicity and self.sr / f * self.min_periods <= pos - later:
                f0_hz, aperiodicity, start = f, ap, later
        waited = self.relax * (pos - pending.onset) / self.max_wait  # 0 -> relax
        if pos - pending.onset > self.max_wait:
            # no confident pitch in time: take the most periodic look, if any was fair
            self._pending = None
            ap, f0_hz = pending.best
            return self._start_note(pending, pos, f0_hz) if ap < self.fallback_threshold else []
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
        if pending.agree < self.confirm:
            return []
        self._pending = None
        same_pitch = self._note is not None and midi == self._note.pitch
        if same_pitch and not self._reattacked(pending):
            if (level_db >= pending.peak_db and pos - pending.onset < self.max_wait
                    and pending.gap_db <= self._note.peak_db - self.gap_db):
                self._pending = pending  # still rising: judge the re-attack at its top
            return []  # no real re-attack (vibrato, tremolo, a loop point): the note goes on
        last = self._last_note
        if (pending.faded and last is not None and midi == last.pitch
                and pending.onset - self._last_offset < self.tail_gap
                and self._odf_since(pending.onset, pos) < self.change_odf):
            # the last note's tail rising again (the beats of detuned strings), not a soft
            # attack of it, which changes the spectrum (a quiet sax repeating its note)
            return []
        if self._note is None and pending.peak_db < pending.dip_db:
            return []  # the level only fell: a release's click and its tail, not an attack
        return self._start_note(pending, pos, f0_hz)

    def _reattacked(self, pending):
        """True when an attack at the sounding note's pitch is a new note: the level rose
        ``reattack_db`` above its dip; for a swell, ``reswell_db``, and back to within 10 dB
        of the note's peak (the beats of a decaying note's detuned strings do not)."""
        rise_db = pending.peak_db - pending.dip_db
        if not pending.swell:
            return rise_db >= self.reattack_db
        return rise_db >= self.reswell_db and pending.peak_db >= self._note.peak_db - 10.0

    def _start_note(self, pending, pos, f0_hz):
        note = self._note
        if note is not None:
            scoop = (not note.confirmed and pending.onset - note.onset < self.new_note_gap
                     and abs(hz_to_midi(f0_hz, self.a4_hz) - note.pitch) < 2.5)
            if scoop or (pending.swell and not note.confirmed):
                # a second attack as a bent one settles, or the tone swelling out of a chiff:
                # the same note, at its pitch
                return self._replace(note, pos, f0_hz, pending.peak_db, pending.onset)
        onset = self._sound_start(pending.onset, pos, f0_hz)
        events = [self._note_off(onset, pos)] if note is not None else []
        return events + [self._note_on(onset, pos, f0_hz, pending.peak_db,
                                       look_from=pending.onset + self.attack_skip)]

    def _replace(self, note, pos, f0_hz, peak_db, look_from):
        """The sounding note corrected: its note_off now, then a note_on at its onset that
        ``replaces`` it, with the pitch heard from ``look_from`` [sample] to ``pos``. Nothing
        when that pitch, refined, is the note's own (the look was off, not the note)."""
        f0_hz = self._refined(f0_hz, look_from, pos)
        if round(hz_to_midi(f0_hz, self.a4_hz)) == note.pitch:
            note.f0_hz, note.change_count = f0_hz, 0
            return []
        return [self._note_off(pos, pos), self._note_on_at(note.onset, pos, f0_hz, peak_db, note.note_id)]

    def _check_pitch(self, pos, level_db):
        """Look at the sounding note's pitch again.

        A young note is provisional: attacks are often bent, noisy or an octave off, so
        until a look past ``revise_s`` agrees with it, a steady different pitch *replaces*
        it (note_off, then a note_on with the same onset and ``replaces``); so does one near
        the middle of the next semitone when the attack was read on the border. Once
        confirmed, a steady different pitch is a new note (a slur or legato change), except
        within ``provisional_s`` and without a spectral change, where a corrected note is
        still gliding: back to its first pitch, or settling after a swoop (see
        :func:`_swooped`; a shakuhachi's swoop up and back). Notes
        that overlap, and leaps of an octave from slips, are told apart by cancelling one
        pitch (:meth:`_pitch`, :meth:`_is_new_pitch`).
        """
        note = self._note
        age = pos - note.onset
        # 5 periods: YIN finds periods up to half the look, so 2.5 times the note's (an
        # octave down, with room)
        length = int(min(max(5 * self.sr / note.f0_hz, self.legato_window, self.min_segment),
                         self.history.size))
        if not note.confirmed:
            # all of the note past its attack: its pitch may be far below the one heard so far
            length = min(age - self.revise_skip, self.max_segment)
        if length < self.min_segment:
            return []
        # once confirmed, a new note may begin over this one's release
        ringing_hz = note.f0_hz if note.confirmed else None
        f0_hz, aperiodicity = self._pitch(pos - length, pos, ringing_hz)
        if ringing_hz is not None and not aperiodicity < self.threshold:
            # two tones beating: a new note over this one's release (a slow swell)? Not the
            # note this one began over, still ringing under it, unless the level rises 6 dB
            # (a music box's bars ring for seconds: 72 heard again as 75, struck after it,
            # dies away; a choir sings the last note again)
            f, ap = self._cancelled_pitch(pos - length, pos, ringing_hz, ringing_hz / 2)
            if ap < self.threshold and not (note.over_hz is not None
                                            and _multiple(note.over_hz / f) == 1
                                            and level_db < self._dip_db() + 6.0):
                f0_hz, aperiodicity = f, ap
        over_hz = note.over_hz if age < self.provisional else None
        back = over_hz is not None and _multiple(over_hz / f0_hz) == 1  # the last note's pitch
        if back:  # the note this one began over, still louder: this one goes on under it
            f, ap = self._cancelled_pitch(pos - length, pos, over_hz, note.f0_hz)
            if abs(hz_to_midi(f, self.a4_hz) - hz_to_midi(note.f0_hz, self.a4_hz)) < 0.6:
                f0_hz, aperiodicity = f, ap
        if not aperiodicity < self.threshold:
            note.change_count = 0
            return []
        if not note.confirmed and aperiodicity >= 0.08:
            # a struck bar's stretched partials pull YIN's period sharp, a semitone or more
            # (a glockenspiel's 80 read 81.1 throughout, d' 0.1-0.16), and its fundamental
            # rises out of them as they die: a provisional note takes that peak, when lower
            # (not looked for in clean periodic sounds: a spectrum at every provisional check
            # raised the live hop's p99 from about 24% to 32% of the hop)
            refined = self._refined(f0_hz, pos - length, pos)
            if hz_to_midi(f0_hz) - hz_to_midi(refined) >= 0.7:
                f0_hz = refined
        midi = hz_to_midi(f0_hz, self.a4_hz)
        interval = abs(midi - hz_to_midi(note.f0_hz, self.a4_hz))
        same = interval < 0.6
        octaves = not same and abs(interval - 12 * round(interval / 12)) < 0.6
        if not note.confirmed and round(midi) != note.pitch and abs(midi - round(midi)) < 0.3:
            same = False  # a scooped attack read on a semitone's border; the note sits on the next
        if same:
            note.change_count = 0
            if age >= self.revise_at and abs(midi - note.pitch) < 0.35 and not note.corrected_fading:
                note.confirmed = True
            return []
        # a fading tail (a bar's partials die first) can still correct a provisional
        # note, but not start a new one, and the correction stays provisional
        fading = level_db < note.peak_db - self.change_db
        if fading and note.confirmed:
            return []  # a fading tail: no new notes from it
        rounded = round(midi)
        steady = note.change_count and abs(midi - note.change_first) < self.change_spread
        if steady and rounded == note.change_midi:
            note.change_count += 1
        else:
            note.change_at, note.change_midi, note.change_count = pos - length // 2, rounded, 1
            note.change_first = midi
        if note.change_count < self.confirm + 1:
            return []
        if midi < note.pitch - 11.5 and (fundamental_db(self._look(pos - length, pos), self.sr, f0_hz)
                                         < -self.missing_db):
            # an octave or more down with no fundamental of its own: the period of a bar's
            # inharmonic partials, which line up every few periods (a glockenspiel's 86 read
            # as 62), neither a correction nor a new note
            return []
        onset, strength = self._change_onset(note, pos)
        if note.confirmed and octaves and strength < self.change_odf and (
                back or not self._is_new_pitch(note, f0_hz, pos - length, pos)):
            # an octave from a confirmed note without a spectral change: a slip, or the note
            # before it still ringing
            return []
        gliding = (age < self.provisional and strength < self.change_odf
                   and (rounded == note.path[0] != note.pitch or _swooped(note.path, rounded)))
        changed = (onset - note.onset > self.new_note_gap and strength >= self.change_odf
                   and level_db >= note.peak_db - self.decay_db)
        if not fading and not gliding and (note.confirmed or changed):
            # a new note: confirmed before, or a clear spectral change since; its rise is
            # looked for with the sounding note cancelled (a low note's partials lie within a
            # few bins of the last one's, and the two levels would read as one)
            onset = self._sound_start(onset, pos, f0_hz, ringing_hz=note.f0_hz)
            events = [self._note_off(onset, pos),
                      self._note_on(onset, pos, f0_hz, note.peak_db, look_from=pos - length)]
        else:
            events = self._replace(note, pos, f0_hz, note.peak_db, pos - length)
        corrected = events and events[-1].replaces is not None
        # a new note after a steady change is confirmed; a corrected one waits for a look
        # that agrees with it (a scoop can still fall back to the note's own pitch)
        self._note.confirmed = age >= self.revise_at and not fading and not corrected
        self._note.corrected_fading = fading
        return events

    def _swells(self, pos, level_db):
        """True at the hop where the sounding note, past its attack and faded ``swell_db``
        below its peak, rises ``swell_db`` above its lowest held level (over its period) of the
        last 50 ms (re-armed once the rise falls below half of it)."""
        levels = self._recent_levels(self.dip_hops, this_hop=True)
        spread = max(levels) - min(levels)  # bounds the rise: most hops end here
        if spread < 0.5 * self.swell_db or (spread < self.swell_db and not self._swelling):
            self._swelling = False
            return False
        note = self._note
        period_hops = math.ceil(self.sr / note.f0_hz / self.hop_length)
        held = _held_levels(levels, min(self.dip_hops - 1, period_hops))
        dip = min(held)
        rise = held[-1] - dip
        if rise < 0.5 * self.swell_db:
            self._swelling = False
        elif (rise >= self.swell_db and not self._swelling and dip <= note.peak_db - self.swell_db
              and pos - note.onset > self.new_note_gap):
            self._swelling = True
            return True
        return False

    def _faded_in(self, level_db):
        """True when ``level_db`` [dBFS] stands ``fade_in_db`` above the lowest level of the
        last 150 ms: a rise, not a tail still sounding above silence."""
        return level_db - min(self._recent_levels(self.fade_hops, this_hop=True)) >= self.fade_in_db

    def _fade_in_onset(self, pos):
        """Onset of a note that faded in [sample]: where the level (recent hops) last rose
        through the midpoint between its recent floor and now, in dB."""
        levels = np.array(self._recent_levels(self.fade_hops, this_hop=True)[::-1])  # newest first
        floor = max(self.silence_db - 20, levels[np.isfinite(levels)].min(initial=levels[0]))
        below = np.flatnonzero(levels < 0.5 * (floor + levels[0]))
        back = int(below[0]) if len(below) else len(levels)
        return max(pos - back * self.hop_length, self.history.start)

    def _change_onset(self, note, pos):
        """Onset of a pitch change [sample] and its ODF value: the strongest ODF hop in the
        ``change_search_s`` before the first look that saw the new pitch (spectral change
        marks it even without an attack)."""
        first = (note.change_at - pos) // self.hop_length  # hops back (negative)
        search = int(self.change_search_s * self.sr / self.hop_length)
        lo = max(first - search, -len(self._odf) + 1, (note.onset - pos) // self.hop_length + 1)
        hops_back = np.arange(lo, min(first + 1, 1))
        if len(hops_back) == 0:
            return note.change_at, 0.0
        values = self._odf[(self._hops + hops_back) % len(self._odf)]
        best = int(np.argmax(values))
        return pos + int(hops_back[best]) * self.hop_length - self.hop_length // 2, float(values[best])

    def _odf_since(self, start, pos):
        """Strongest onset detection function value of the hops from sample ``start`` to
        ``pos`` (as far back as it is kept)."""
        hops = min(len(self._odf), max(1, (pos - start) // self.hop_length + 1))
        return float(self._odf[(self._hops - np.arange(hops)) % len(self._odf)].max())

    def finish(self, pos):
        """End the sounding note (end of stream or a gap)."""
        self._pending = None
        return [self._note_off(pos, pos)] if self._note is not None else []
