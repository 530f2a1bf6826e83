"""Measuring a run of the real engine on a workload with known onsets.

Algorithmic latency of a note (DESIGN.md section 3) is counted in samples of the input:
``latency = (decision_sample - true onset sample) / sr``, where ``decision_sample`` is the
one carried by the note_on that gave the note its (right) pitch -- for a note rtnote
corrected (a later note_on ``replaces`` it), the correction's. Reported notes are matched to
the reference with mir_eval exactly as :func:`rtnote.evaluation.score_notes` does (onset
within 50 ms, pitch within 50 cents, offsets ignored).

The trust rule: a latency figure never leaves a run without the run's dropped cycles,
ring-buffer overflows and deadline misses beside it. :class:`LatencyFigure` is the only way
to a figure: its text and its dict carry the counts; a bare number from a run that had any
is refused (:class:`UntrustedFigure`) unless the caller says it shows them beside it.
"""

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from rtnote.errors import RtnoteError
from rtnote.events import NoteOff, NoteOn, midi_to_hz

#: Registers latency is broken down by: (name, lowest, highest + 1) [MIDI note numbers].
REGISTERS = (("E1-E2", 28, 40), ("E2-C4", 40, 60), ("C4 and up", 60, 128))
#: Reference notes below this count as low for the low-note pitch accuracy (C3).
LOW_NOTE_BELOW = 48
ONSET_TOL_S = 0.05

#: Health counters, in the order they are shown, with their labels.
HEALTH_LABELS = {
    "dropped_cycles": "dropped cycles",
    "server_xruns": "server xruns",
    "overflows": "ring overflows",
    "deadline_misses": "deadline misses",
}


class UntrustedFigure(RtnoteError):
    """A latency figure was asked for without the dropped cycles, overflows or deadline
    misses of its run beside it."""


class Health:
    """What went wrong in a run, as counts: dropped audio cycles, server xruns, ring-buffer
    overflows, deadline misses (compute over the audio's duration). Counters that do not
    apply to a run (no audio server in file mode) are left out.

    Parameters
    ----------
    **counters : int >= 0
        Keys of :data:`HEALTH_LABELS`; None leaves a counter out.
    """

    def __init__(self, **counters):
        unknown = set(counters) - set(HEALTH_LABELS)
        if unknown:
            raise ValueError(f"unknown health counters: {sorted(unknown)}")
        self.counters = {k: int(counters[k]) for k in HEALTH_LABELS
                         if counters.get(k) is not None}

    @property
    def clean(self):
        """True when every counter is 0."""
        return not any(self.counters.values())

    def describe(self):
        """'0 dropped cycles, 2 ring overflows, 0 deadline misses' (every counter)."""
        return ", ".join(f"{v} {HEALTH_LABELS[k]}" for k, v in self.counters.items())

    def as_dict(self):
        return dict(self.counters, clean=self.clean)

    def __repr__(self):
        return f"Health({self.describe()})"


class LatencyFigure:
    """Latency statistics of matched notes, bound to the health of the run they came from.

    Parameters
    ----------
    latency_s : array-like of float [seconds]
        One value per matched note.
    health : Health
        The run's counters. Required: a figure without them is refused.
    """

    STATS = ("median", "p95", "max")

    def __init__(self, latency_s, health):
        if not isinstance(health, Health):
            raise UntrustedFigure("a latency figure needs its run's dropped cycles, overflows "
                                  "and deadline misses beside it; none were given")
        self.latency_s = np.asarray(latency_s, dtype=float)
        self.health = health

    @property
    def n(self):
        return int(len(self.latency_s))

    def _stat(self, stat):
        x = self.latency_s
        if len(x) == 0:
            return None
        value = {"median": np.median, "p95": lambda a: np.percentile(a, 95), "max": np.max,
                 "min": np.min, "mean": np.mean}[stat](x)
        return float(value) * 1e3

    def number(self, stat="median", shown_beside=False):
        """One statistic [ms] (None when no note matched).

        Parameters
        ----------
        stat : 'median' | 'p95' | 'max' | 'min' | 'mean'
        shown_beside : bool
            The caller shows ``health.describe()`` next to the number. Required when the
            run had dropped cycles, overflows or deadline misses.

        Raises
        ------
        UntrustedFigure
            The run was not clean and ``shown_beside`` is False.
        """
        if not self.health.clean and not shown_beside:
            raise UntrustedFigure(f"refusing to report a latency figure from a run with "
                                  f"{self.health.describe()} unless they are shown beside it")
        return self._stat(stat)

    def text(self):
        """'median 14.1 ms, p95 30.2 ms, max 61.0 ms (40 notes)', with the run's counters
        appended when any is not 0."""
        if self.n == 0:
            body = "no matched notes"
        else:
            body = ", ".join(f"{s} {self._stat(s):.1f} ms" for s in self.STATS) + f" ({self.n} notes)"
        if not self.health.clean:
            body += f" -- run had {self.health.describe()}"
        return body

    def as_dict(self):
        """Statistics [ms] with the run's health counters in the same object."""
        out = {f"{s}_ms": self._stat(s) for s in self.STATS}
        out["notes"] = self.n
        out["health"] = self.health.as_dict()
        return out

    def subset(self, mask):
        """The figure of some of the notes (same health)."""
        return LatencyFigure(self.latency_s[np.asarray(mask, dtype=bool)], self.health)


# -- matching -------------------------------------------------------------------------------

def note_ons_kept(events):
    """[(NoteOn, offset_sample or None)] of the notes an event list reports, by onset; a note
    a later note_on ``replaces`` is left out (the correction takes its place), as in
    :func:`rtnote.evaluation.events_to_notes`."""
    replaced = {e.replaces for e in events if isinstance(e, NoteOn) and e.replaces is not None}
    offs = {e.note_id: e.offset_sample for e in events if isinstance(e, NoteOff)}
    kept = [e for e in events if isinstance(e, NoteOn) and e.note_id not in replaced]
    kept.sort(key=lambda e: (e.onset_sample, e.note_id))
    return [(e, offs.get(e.note_id)) for e in kept]


@dataclass
class Match:
    """Reference notes matched with reported notes.

    pairs : list of (int, NoteOn)
        Index of the reference note, the note_on matched to it.
    n_ref, n_est : int
        Reference notes; reported notes (corrections counted once).
    by_onset_only : bool
        The reference has no pitches: notes matched by onset alone.
    """

    pairs: list
    n_ref: int
    n_est: int
    by_onset_only: bool = False

    @property
    def matched(self):
        return len(self.pairs)

    @property
    def missed(self):
        """Reference notes no reported note matched."""
        return self.n_ref - self.matched

    @property
    def false_notes(self):
        """Reported notes that match no reference note."""
        return self.n_est - self.matched

    @property
    def precision(self):
        return self.matched / self.n_est if self.n_est else float(self.n_ref == 0)

    @property
    def recall(self):
        return self.matched / self.n_ref if self.n_ref else float(self.n_est == 0)

    @property
    def f1(self):
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self):
        return {"reference": self.n_ref, "reported": self.n_est, "matched": self.matched,
                "missed": self.missed, "false": self.false_notes,
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "matched_by": "onset only" if self.by_onset_only else "onset and pitch"}


def _intervals(kept, sr):
    out = []
    for on, off in kept:
        start = on.onset_sample / sr
        end = off / sr if off is not None else start + 0.1
        out.append((start, max(end, start + 0.001)))
    return np.array(out, dtype=float).reshape(-1, 2)


def match_notes(ref_notes, events, sr, onset_tol_s=ONSET_TOL_S):
    """Match reported notes to reference notes with mir_eval (same rules as
    :func:`rtnote.evaluation.score_notes`): onset within ``onset_tol_s``, pitch within 50
    cents, offsets ignored; by onset alone when the reference has no pitches.

    Parameters
    ----------
    ref_notes : list of RefNote
    events : list of rtnote events
    sr : int > 0 [Hz]
        Rate the sample counts of both are in.
    onset_tol_s : float > 0 [seconds]

    Returns
    -------
    Match
    """
    import mir_eval

    kept = note_ons_kept(events)
    by_onset = any(n.pitch is None for n in ref_notes)
    if not ref_notes or not kept:
        return Match([], len(ref_notes), len(kept), by_onset)
    ref_int = np.array([(n.onset_sample / sr, max(n.offset_sample, n.onset_sample + 1) / sr)
                        for n in ref_notes])
    est_int = _intervals(kept, sr)
    if by_onset:
        pairs = mir_eval.transcription.match_note_onsets(ref_int, est_int,
                                                         onset_tolerance=onset_tol_s)
    else:
        ref_hz = np.array([midi_to_hz(n.pitch) for n in ref_notes])
        est_hz = np.array([midi_to_hz(on.pitch) for on, _ in kept])
        pairs = mir_eval.transcription.match_notes(ref_int, ref_hz, est_int, est_hz,
                                                   onset_tolerance=onset_tol_s, offset_ratio=None)
    pairs = sorted((int(i), kept[j][0]) for i, j in pairs)
    return Match(pairs, len(ref_notes), len(kept), by_onset)


def first_note_on(events):
    """{note_id: the first note_on of its chain of corrections} for every note_on: a note that
    ``replaces`` another goes back to the one first sent (what a MIDI port played first)."""
    ons = {e.note_id: e for e in events if isinstance(e, NoteOn)}
    first = {}
    for note_id, on in ons.items():
        root, seen = on, set()
        while root.replaces is not None and root.replaces in ons and root.note_id not in seen:
            seen.add(root.note_id)
            root = ons[root.replaces]
        first[note_id] = root
    return first


def latency_samples(ref_notes, match):
    """Algorithmic latency of each matched note [samples]: the note_on's decision sample
    minus the reference onset sample."""
    return np.array([on.decision_sample - ref_notes[i].onset_sample for i, on in match.pairs],
                    dtype=np.int64)


def low_note_pitch(ref_notes, events, sr, below=LOW_NOTE_BELOW, onset_tol_s=ONSET_TOL_S):
    """Pitch accuracy on low notes: of the reference notes below ``below`` whose onset was
    found (a reported note within ``onset_tol_s``, any pitch), the share reported with the
    right MIDI pitch; octave errors counted apart.

    Returns
    -------
    dict
        notes, found, correct, octave_errors, accuracy (None when none was found).
    """
    import mir_eval

    kept = note_ons_kept(events)
    low = {i for i, n in enumerate(ref_notes) if n.pitch is not None and n.pitch < below}
    out = {"below_midi": below, "notes": len(low), "found": 0, "correct": 0, "octave_errors": 0,
           "accuracy": None}
    if not low or not kept:
        return out
    ref_int = np.array([(n.onset_sample / sr, max(n.offset_sample, n.onset_sample + 1) / sr)
                        for n in ref_notes])
    pairs = mir_eval.transcription.match_note_onsets(ref_int, _intervals(kept, sr),
                                                     onset_tolerance=onset_tol_s)
    for i, j in pairs:
        if i not in low:
            continue
        got, want = kept[j][0].pitch, ref_notes[i].pitch
        out["found"] += 1
        out["correct"] += got == want
        out["octave_errors"] += got != want and (got - want) % 12 == 0
    out["accuracy"] = out["correct"] / out["found"] if out["found"] else None
    return out


# -- running the engine ---------------------------------------------------------------------

class PeakMemory:
    """Peak resident memory of this process over a span [MiB].

    Linux keeps the peak in /proc/self/status (VmHWM); writing 5 to /proc/self/clear_refs
    resets it, so the peak is the span's own. Where that is not allowed (or not Linux), the
    peak is the process's since it began (``scope`` says which).
    """

    def __init__(self):
        self.scope = "process"
        self.start_mb = self._read("VmRSS")

    @staticmethod
    def _read(key):
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    def reset(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.scope = "run"
        except OSError:
            self.scope = "process"
        self.start_mb = self._read("VmRSS")
        return self

    def peak_mb(self):
        return self._read("VmHWM")


@dataclass
class EngineRun:
    """What one run of Engine + FileSource gave.

    events : list
    compute : rtnote.engine.ComputeStats
    overflows : int
        Blocks the ring buffer had no room for.
    wall_s : float [seconds]
        Engine start to end.
    audio_s : float [seconds]
    paced : bool
        Fed in real time (True) or as fast as possible.
    blocksize : int [samples]
        Source block size.
    hop_length : int [samples]
        The analyzer's hop.
    memory : dict
        rss_before_mb, peak_rss_mb, scope ('run' or 'process').
    """

    events: list
    compute: object
    overflows: int
    dropped_samples: int
    wall_s: float
    audio_s: float
    paced: bool
    blocksize: int
    hop_length: int
    memory: dict = field(default_factory=dict)

    @property
    def throughput_x_realtime(self):
        """Audio duration / wall time; None when paced (1x by construction)."""
        return None if self.paced or self.wall_s <= 0 else self.audio_s / self.wall_s

    def compute_summary(self):
        """Compute per hop [ms] (median/p99/max), its budget (the hop's duration), deadline
        misses, hops per worker step and the compute load (compute time / audio time)."""
        stats = self.compute
        out = stats.summary()
        per_hop = stats.per_hop_s
        out["steps"] = int(stats.steps)
        out["hops_per_step"] = float(len(per_hop) / stats.steps) if stats.steps else None
        out["load"] = float(per_hop.sum() / self.audio_s) if self.audio_s else None
        if len(per_hop):
            out["p99_of_budget"] = out["p99_ms"] / out["budget_ms"]
        return out


def run_engine(workload, settings=None, classifier=None, paced=False, blocksize=256,
               on_progress=None):
    """Feed a workload through the real engine: its audio is written to a float WAV and read
    by a FileSource (paced in real time or as fast as possible) into Engine + Analyzer.

    Parameters
    ----------
    workload : Workload
    settings : rtnote.analysis.analyzer.Settings or None
    classifier : family classifier or None
    paced : bool
        Real time, like a live device (a full ring buffer drops blocks), or as fast as the
        engine goes (never drops).
    blocksize : int > 0 [samples]
        Source block size, like an audio callback's.
    on_progress : callable(frames_read, frames_total) or None

    Returns
    -------
    EngineRun
    """
    from rtnote.analysis.analyzer import Analyzer, Settings
    from rtnote.audio.sources import FileSource
    from rtnote.classifier_process import ClassifierProcess
    from rtnote.engine import Engine
    from rtnote.sinks import EventList

    settings = settings or Settings()
    # paced, the looks at each note go to a process of their own, as in live runs
    looks = ClassifierProcess if paced and classifier is not None else contextlib.nullcontext
    with tempfile.TemporaryDirectory(prefix="rtnote-bench-") as tmp, looks(classifier) as classifier:
        path = os.path.join(tmp, "workload.wav")
        workload.write(path)
        source = FileSource(path, blocksize=blocksize, paced=paced)
        analyzer = Analyzer(source.sr, settings, classifier)
        collected = EventList()
        engine = Engine(analyzer, [collected])
        memory = PeakMemory().reset()
        t0 = time.perf_counter()
        engine.run(source, on_progress=on_progress and (
            lambda: on_progress(source.frames_read, source.frames)))  # re-raises their errors
        wall = time.perf_counter() - t0
        peak = memory.peak_mb()
    return EngineRun(collected.events, engine.stats, int(engine.ring.dropped_blocks),
                     int(engine.ring.dropped_samples), wall, source.frames_read / source.sr,
                     paced, int(blocksize), analyzer.hop_length,
                     {"rss_before_mb": memory.start_mb, "peak_rss_mb": peak, "scope": memory.scope})


# -- the bench ------------------------------------------------------------------------------

@dataclass
class BenchResult:
    """A workload run through the engine and measured against its reference notes."""

    workload: object
    settings: object
    run: EngineRun
    match: Match
    health: Health
    latency: LatencyFigure
    classifier: str = "none"

    def by_register(self):
        """{register name: LatencyFigure} of the matched notes in each register."""
        if self.match.by_onset_only:
            return {}
        pitch = np.array([self.workload.notes[i].pitch for i, _ in self.match.pairs])
        return {name: self.latency.subset((pitch >= lo) & (pitch < hi))
                for name, lo, hi in REGISTERS}

    def per_note(self):
        """One dict per reference note: where it began, what was reported, its latency."""
        sr = self.workload.sr
        matched = dict(self.match.pairs)
        firsts = first_note_on(self.run.events)
        out = []
        for i, n in enumerate(self.workload.notes):
            on = matched.get(i)
            row = {"onset_sample": n.onset_sample, "pitch": n.pitch, "matched": on is not None}
            if on is not None:
                first = firsts[on.note_id]
                row.update(note_id=on.note_id, reported_pitch=on.pitch,
                           reported_onset_sample=on.onset_sample,
                           decision_sample=on.decision_sample,
                           latency_ms=(on.decision_sample - n.onset_sample) / sr * 1e3,
                           corrected=on.replaces is not None,
                           first_pitch=first.pitch,
                           first_latency_ms=(first.decision_sample - n.onset_sample) / sr * 1e3)
            out.append(row)
        return out

    def first_latency(self):
        """LatencyFigure of the first note_on sent for each matched note (before any
        correction of its pitch; the same as :attr:`latency` for uncorrected notes)."""
        firsts = first_note_on(self.run.events)
        sr = self.workload.sr
        return LatencyFigure([(firsts[on.note_id].decision_sample - self.workload.notes[i].onset_sample) / sr
                              for i, on in self.match.pairs], self.health)

    @property
    def corrected(self):
        """Matched notes whose pitch came from a correction (a note_on that replaces one)."""
        return sum(1 for _, on in self.match.pairs if on.replaces is not None)

    def as_dict(self):
        from rtnote import __version__

        run = self.run
        per_note = self.per_note()
        return {
            "rtnote": __version__,
            "mode": "realtime" if run.paced else "fast",
            "workload": {"name": self.workload.name, "sr": self.workload.sr,
                         "duration_s": self.workload.duration_s,
                         "notes": len(self.workload.notes)},
            "settings": {"latency": self.settings.latency, "hop_samples": run.hop_length,
                         "blocksize": run.blocksize, "families": self.classifier},
            "notes": dict(self.match.as_dict(), corrected=self.corrected),
            "latency": dict(self.latency.as_dict(),
                            by_register={k: v.as_dict() for k, v in self.by_register().items()},
                            first_note_on=self.first_latency().as_dict()),
            "compute": run.compute_summary(),
            "overflows": run.overflows,
            "dropped_samples": run.dropped_samples,
            "health": self.health.as_dict(),
            "throughput_x_realtime": run.throughput_x_realtime,
            "wall_s": run.wall_s,
            "audio_s": run.audio_s,
            "memory": run.memory,
            "per_note": per_note,
        }


def bench(workload, settings=None, classifier=None, paced=False, blocksize=256,
          classifier_name="none", on_progress=None):
    """Run a workload through the engine and measure it (see :func:`run_engine`).

    Returns
    -------
    BenchResult
    """
    from rtnote.analysis.analyzer import Settings

    settings = settings or Settings()
    run = run_engine(workload, settings, classifier, paced, blocksize, on_progress)
    match = match_notes(workload.notes, run.events, workload.sr)
    health = Health(overflows=run.overflows, deadline_misses=run.compute.deadline_misses)
    latency = LatencyFigure(latency_samples(workload.notes, match) / workload.sr, health)
    return BenchResult(workload, settings, run, match, health, latency, classifier_name)
