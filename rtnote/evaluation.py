"""Scoring notes against ground truth (mir_eval), shared by tests, benchmarks and `bench`."""

from dataclasses import dataclass

import numpy as np

from rtnote.events import NoteOff, NoteOn, midi_to_hz


@dataclass
class NoteScore:
    """Note-level precision/recall/F1 (onset within ``onset_tol_s``, pitch within 50 cents,
    offsets ignored) and, for each matched note, latency = decision - true onset [s]."""

    precision: float
    recall: float
    f1: float
    n_ref: int
    n_est: int
    matched_ref_pitch: np.ndarray  # MIDI pitch of each matched reference note
    latency_s: np.ndarray  # per matched note: its (corrected) note_on's decision [s]
    first_latency_s: np.ndarray  # per matched note: the first note_on at that onset [s]


def events_to_notes(events):
    """[(onset_s, offset_s, pitch, decision_s, first_decision_s)] of the notes in an event
    list; a note that a later note_on ``replaces`` is left out (the correction takes its
    place), and ``first_decision_s`` is when the first note of that chain was reported."""
    all_ons = {e.note_id: e for e in events if isinstance(e, NoteOn)}
    replaced = {e.replaces for e in all_ons.values()}
    offs = {e.note_id: e for e in events if isinstance(e, NoteOff)}
    notes = []
    for note_id, on in all_ons.items():
        if note_id in replaced:
            continue
        first = on
        while first.replaces is not None and first.replaces in all_ons:
            first = all_ons[first.replaces]
        off = offs.get(note_id)
        offset_s = off.time if off else on.time + 0.1
        notes.append((on.time, max(offset_s, on.time + 0.001), on.pitch,
                      on.decision_sample / on.sr, first.decision_sample / first.sr))
    return sorted(notes)


def score_notes(ref_notes, events, onset_tol_s=0.05):
    """Score events against reference notes (objects with pitch, onset_s, offset_s)."""
    import mir_eval

    est = events_to_notes(events)
    ref_int = np.array([[n.onset_s, n.offset_s] for n in ref_notes]).reshape(-1, 2)
    ref_hz = np.array([midi_to_hz(n.pitch) for n in ref_notes])
    est_int = np.array([[n[0], n[1]] for n in est]).reshape(-1, 2)
    est_hz = np.array([midi_to_hz(n[2]) for n in est])
    if len(ref_notes) == 0 or len(est) == 0:
        f1 = 1.0 if len(ref_notes) == len(est) else 0.0
        return NoteScore(f1, f1, f1, len(ref_notes), len(est), np.zeros(0), np.zeros(0), np.zeros(0))
    pairs = mir_eval.transcription.match_notes(ref_int, ref_hz, est_int, est_hz,
                                               onset_tolerance=onset_tol_s, offset_ratio=None)
    n_match = len(pairs)
    precision = n_match / len(est)
    recall = n_match / len(ref_notes)
    f1 = 2 * precision * recall / (precision + recall) if n_match else 0.0
    pitch = np.array([ref_notes[i].pitch for i, _ in pairs])
    latency = np.array([est[j][3] - ref_notes[i].onset_s for i, j in pairs])
    first = np.array([est[j][4] - ref_notes[i].onset_s for i, j in pairs])
    return NoteScore(precision, recall, f1, len(ref_notes), len(est), pitch, latency, first)
