"""End-to-end latency through a real JACK server: from the audio frame of each note's onset
to the frame its MIDI note_on arrives, on JACK's frame clock (DESIGN.md sections 3 and 7).

One run, at one JACK period:

1. a server with the dummy driver is started (or the user's own is used);
2. ``rtnote listen --view json --midi-out ... --midi-api jack --record HEARD.wav`` runs,
   unchanged, as a subprocess; its recording (what the analyzer heard, sample for sample)
   shows where the played audio's sounds begin and end in its input stream (audio its ring
   buffer lost is recorded as silence; such a run shows its overflows in its health);
3. a JACK client (:class:`rtnote.bench.jackserver.JackClient`) plays the workload into
   rtnote's input from a known frame ``A`` and timestamps every MIDI message it receives;
4. per matched note, with ``i0`` the first non-zero sample of the audio and ``k0`` the index
   at which rtnote's stream received it (so stream sample ``s`` is JACK frame
   ``S + s``, ``S = A + i0 - k0``; each later sound after silence, found in both, re-aligns
   the notes after it, as a dropped cycle costs the stream frames -- their count is measured):

   - end-to-end = MIDI frame - (A + onset sample)
   - algorithmic = decision sample - (onset sample - i0 + k0), as rtnote's events say
   - transport = end-to-end - algorithmic = MIDI frame - (S + decision sample): from the
     decision sample entering JACK to the MIDI message arriving; >= 0 by causality, and at
     most one period when the worker keeps up (RtMidi's JACK port sends at the next cycle).

   The split is exact for the notes of a sound (from a start after silence to its end before
   one) that lost no input frame in rtnote's stream -- its start and end are both seen there,
   the same distance apart as in the audio. The algorithmic and transport figures and the
   claim below use those notes; end to end counts every note whose MIDI arrived.
"""

import json
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from rtnote.bench.jackserver import JackClient, JackError, JackServer, Rtnote
from rtnote.bench.measure import Health, LatencyFigure, match_notes
from rtnote.bench.workload import RefNote
from rtnote.events import FamilyUpdate, NoteOff, NoteOn

#: The player's lead-in of digital silence before the audio [seconds]; a sound start needs
#: half of it before.
LEAD_IN_S = 0.4


@dataclass
class JackRun:
    """One end-to-end run at one JACK period."""

    period: int
    sr: int
    server: str
    external: bool
    workload: object
    per_note: list = field(default_factory=list)
    match: object = None
    health: object = None
    algorithmic: object = None
    end_to_end: object = None
    end_to_end_exact: object = None  # the notes whose algorithmic/transport split is exact
    file_algorithmic: object = None  # the same audio through the file path (no server)
    transport_frames: np.ndarray = None
    rtnote_stats: dict = field(default_factory=dict)
    alignment: dict = field(default_factory=dict)
    realtime: bool = None  # jackd --realtime (None: the user's own server)
    exit_code: int = None
    error: str = None

    @property
    def period_ms(self):
        return self.period / self.sr * 1e3

    def claim(self):
        """Is the end-to-end median at most the algorithmic median plus one period? Both on
        the notes whose split is exact (no input frame lost around them)."""
        if self.end_to_end_exact is None or self.end_to_end_exact.n == 0:
            return None
        e2e = self.end_to_end_exact.number("median", shown_beside=True)
        alg = self.algorithmic.number("median", shown_beside=True)
        out = {"notes": self.end_to_end_exact.n, "e2e_median_ms": e2e,
               "algorithmic_median_ms": alg, "period_ms": self.period_ms,
               "bound_ms": alg + self.period_ms, "holds": bool(e2e <= alg + self.period_ms + 1e-9),
               "health": self.health.as_dict()}
        if self.file_algorithmic is not None and self.file_algorithmic.n:
            file_alg = self.file_algorithmic.number("median", shown_beside=True)
            out.update(file_algorithmic_median_ms=file_alg,
                       holds_against_file_run=bool(e2e <= file_alg + self.period_ms + 1e-9),
                       file_run_health=self.file_algorithmic.health.as_dict())
        return out

    def transport_summary(self):
        t = self.transport_frames
        if t is None or len(t) == 0:
            return None
        return {"median_frames": float(np.median(t)), "max_frames": int(t.max()),
                "min_frames": int(t.min()), "within_one_period": int(np.sum((t >= 0) & (t <= self.period))),
                "notes": int(len(t)), "median_ms": float(np.median(t)) / self.sr * 1e3,
                "max_ms": float(t.max()) / self.sr * 1e3}

    def as_dict(self):
        return {
            "period_frames": self.period, "sr": self.sr, "period_ms": self.period_ms,
            "server": (f"started here (dummy driver, {'--realtime' if self.realtime else '--no-realtime'})"
                       if not self.external else self.server),
            "server_realtime": self.realtime,
            "workload": {"name": self.workload.name, "duration_s": self.workload.duration_s,
                         "notes": len(self.workload.notes)},
            "exit_code": self.exit_code, "error": self.error,
            "notes": self.match.as_dict() if self.match else None,
            "health": self.health.as_dict() if self.health else None,
            "algorithmic_latency": self.algorithmic.as_dict() if self.algorithmic else None,
            "end_to_end_latency": self.end_to_end.as_dict() if self.end_to_end else None,
            "end_to_end_latency_exact_notes": (self.end_to_end_exact.as_dict()
                                               if self.end_to_end_exact else None),
            "file_algorithmic_latency": (self.file_algorithmic.as_dict()
                                         if self.file_algorithmic else None),
            "transport": self.transport_summary(),
            "alignment": self.alignment,
            "claim_e2e_median_le_algorithmic_median_plus_one_period": self.claim(),
            "rtnote_stats": self.rtnote_stats,
            "per_note": self.per_note,
        }


def _events_from_json(text):
    kinds = {"note_on": NoteOn, "note_off": NoteOff, "family_update": FamilyUpdate}
    events = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        obj = json.loads(line)
        obj.pop("time", None)
        kind = kinds.get(obj.get("type"))
        if kind is not None:
            events.append(kind(**obj))
    return events


def _find_port(client, suffix, timeout=10.0):
    """Full name of the one MIDI output port named ``*:suffix``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [p.name for p in client.client.get_ports(is_midi=True, is_output=True)
                 if p.name.endswith(":" + suffix)]
        if len(found) == 1:
            return found[0]
        if time.monotonic() > deadline:
            names = ", ".join(p.name for p in client.client.get_ports())
            raise JackError(f"rtnote's MIDI port *:{suffix} did not appear on the server "
                            f"(ports: {names})")
        time.sleep(0.02)


#: A MIDI message arriving later than this after its note's decision is not that note's.
MAX_TRANSPORT_S = 2.0


def midi_frames_for(note_ons, midi_on, stream_start, max_frames=None):
    """JACK frame at which each note_on's MIDI message arrived.

    note_ons : list of NoteOn, in the order rtnote emitted them
    midi_on : list of (frame, note) of received note_on messages, in arrival order
    stream_start : int
        JACK frame of rtnote's stream sample 0.

    max_frames : int or None
        Latest arrival after the decision entered JACK [frames] (None: no limit).

    The MIDI sink sends one note_on per event, in order: when the two lists agree note for
    note they are paired by position; otherwise each event takes the first unused message of
    its pitch that arrived at or after its decision sample entered JACK (and, with
    ``max_frames``, not later than that after it).
    """
    if len(note_ons) == len(midi_on) and all(e.pitch == m[1] for e, m in zip(note_ons, midi_on)):
        return {e.note_id: m[0] for e, m in zip(note_ons, midi_on)}
    used, out = set(), {}
    for e in note_ons:
        earliest = stream_start + e.decision_sample
        latest = earliest + max_frames if max_frames is not None else float("inf")
        for k, (frame, note) in enumerate(midi_on):
            if k not in used and note == e.pitch and earliest <= frame <= latest:
                used.add(k)
                out[e.note_id] = frame
                break
    return out


def sound_starts(y, min_silence, silent_before=False):
    """Indices of the non-zero samples of ``y`` that follow at least ``min_silence`` exact
    zeros (or the start): where sounds begin, in the played audio or in rtnote's recording.
    ``silent_before``: ``y`` is played after silence, so its first sound always counts."""
    nonzero = np.flatnonzero(y)
    before = -1 - (min_silence if silent_before else 0)
    previous = np.concatenate(([before], nonzero[:-1]))
    return nonzero[nonzero - previous - 1 >= min_silence]


def sound_ends(y, min_silence, silent_after=False):
    """Indices of the non-zero samples of ``y`` followed by at least ``min_silence`` exact
    zeros (or the end, with ``silent_after``: ``y`` is followed by silence when played)."""
    nonzero = np.flatnonzero(y)
    after = len(y) + (min_silence if silent_after else 0)
    following = np.concatenate((nonzero[1:], [after]))
    return nonzero[following - nonzero - 1 >= min_silence]


def align(audio_starts, stream_starts, max_loss):
    """Anchor pairs (audio index, stream index) of the same sounds, first sound first.

    Frames can only be lost between two anchors (a dropped cycle), never gained, so the
    stream anchor of a later sound lies at most ``max_loss`` samples before where the
    previous pair predicts it; sounds with no such anchor are skipped.
    """
    pairs = [(int(audio_starts[0]), int(stream_starts[0]))]
    stream = np.asarray(stream_starts, dtype=np.int64)
    for a in audio_starts[1:]:
        ya, sa = pairs[-1]
        predicted = sa + (int(a) - ya)
        ok = stream[(stream > sa) & (stream <= predicted) & (stream >= predicted - max_loss)]
        if len(ok):
            pairs.append((int(a), int(ok.max())))
    return pairs


def segment_losses(pairs, audio_ends, stream_ends, max_loss):
    """For each anchor pair, (audio end of its sound, input frames lost within it or None).

    A sound runs from its start anchor to its end (its last non-zero sample before a
    silence); the stream's end of it lies ``loss`` samples before where the start predicts,
    0 when no frame was lost in between (None when the stream's end was not found).
    """
    audio_ends = np.asarray(audio_ends, dtype=np.int64)
    stream = np.asarray(stream_ends, dtype=np.int64)
    out = []
    for ya, sa in pairs:
        later = audio_ends[audio_ends >= ya]
        if not len(later):
            out.append((None, None))
            continue
        ye = int(later[0])
        predicted = sa + (ye - ya)
        ok = stream[(stream >= sa) & (stream <= predicted) & (stream >= predicted - max_loss)]
        out.append((ye, int(predicted - ok.max()) if len(ok) else None))
    return out


def analyze_run(run, y, events, midi, start_frame, stream_starts, stats, xruns,
                min_silence=None, stream_ends=None):
    """Fill ``run`` from what one played run produced (see the module docstring).

    Parameters
    ----------
    y : np.ndarray
        The audio played from JACK frame ``start_frame`` (after silence, and followed by it).
    stream_starts, stream_ends : list of int [samples]
        Where rtnote's stream saw sounds begin after silence and end before one (its
        recording);
        the first start is the audio's first sound.
    min_silence : int or None [samples]
        The silence around a sound; None: only the first sound aligns.

    A note's split into algorithmic + transport is exact when no input frame was lost
    between the start of its sound and the end of it (both seen in rtnote's stream); the
    algorithmic and transport figures, and the claim, use those notes. End to end needs no
    alignment and counts every note whose MIDI arrived.
    """
    w = run.workload
    if isinstance(stream_starts, (int, np.integer)):
        stream_starts = [int(stream_starts)]
    max_loss = int(0.5 * w.sr)
    if min_silence:
        audio = sound_starts(y, min_silence, silent_before=True)
        audio_ends = sound_ends(y, min_silence, silent_after=True)
    else:
        audio, audio_ends = np.flatnonzero(y)[:1], np.flatnonzero(y)[-1:]
    pairs = align(audio, stream_starts, max_loss)
    segments = segment_losses(pairs, audio_ends, stream_ends or [], max_loss)
    anchor_y = np.array([p[0] for p in pairs])
    slack = int(0.01 * w.sr)  # a note may begin a little before its sound's first non-zero sample

    def segment(sample):
        return max(0, int(np.searchsorted(anchor_y, sample + slack, side="right")) - 1)

    def offset(sample):
        """stream index - audio index for a sound at audio ``sample``."""
        ya, sa = pairs[segment(sample)]
        return sa - ya

    def exact(sample):
        ye, loss = segments[segment(sample)]
        return loss == 0 and ye is not None and pairs[segment(sample)][0] - slack <= sample <= ye

    run.alignment = {"anchors": len(pairs), "audio_sounds_after_silence": int(len(audio)),
                     "input_frames_lost": int(sum(max(0, (b[0] - a[0]) - (b[1] - a[1]))
                                                  for a, b in zip(pairs, pairs[1:]))),
                     "sounds_without_loss": sum(1 for _, loss in segments if loss == 0)}
    stream_start = start_frame - offset(anchor_y[0])
    refs = [RefNote(n.onset_sample + offset(n.onset_sample), n.offset_sample + offset(n.onset_sample),
                    n.pitch, n.program) for n in w.notes]
    run.match = match_notes(refs, events, w.sr)
    run.health = Health(dropped_cycles=stats.get("dropped_cycles", 0), server_xruns=xruns,
                        overflows=stats.get("overflows", 0),
                        deadline_misses=stats.get("deadline_misses", 0))
    note_ons = [e for e in events if isinstance(e, NoteOn)]
    midi_on = [(frame, note) for frame, kind, _, note, _ in midi if kind == "on"]
    frames = midi_frames_for(note_ons, midi_on, stream_start, int(MAX_TRANSPORT_S * w.sr))
    alg, e2e, e2e_exact, transport = [], [], [], []
    matched = dict(run.match.pairs)
    for i, n in enumerate(w.notes):
        row = {"pitch": n.pitch, "onset_sample": n.onset_sample,
               "onset_frame": start_frame + n.onset_sample, "matched": i in matched}
        on = matched.get(i)
        if on is not None:
            a = on.decision_sample - refs[i].onset_sample
            row.update(decision_sample=on.decision_sample, algorithmic_frames=int(a),
                       split_exact=bool(exact(n.onset_sample)))
            frame = frames.get(on.note_id)
            if frame is not None:
                e = frame - (start_frame + n.onset_sample)
                row.update(midi_frame=int(frame), end_to_end_frames=int(e),
                           transport_frames=int(e - a))
                e2e.append(e)
                if row["split_exact"]:
                    alg.append(a)
                    e2e_exact.append(e)
                    transport.append(e - a)
        run.per_note.append(row)
    run.algorithmic = LatencyFigure(np.array(alg) / w.sr, run.health)
    run.end_to_end = LatencyFigure(np.array(e2e) / w.sr, run.health)
    run.end_to_end_exact = LatencyFigure(np.array(e2e_exact) / w.sr, run.health)
    run.transport_frames = np.array(transport, dtype=np.int64)
    run.rtnote_stats = stats
    return run


def run_once(workload, settings, period, server_name=None, sr=48000, model_args=(),
             log=print, tail_s=1.0, realtime=True):
    """One end-to-end run (see the module docstring).

    Parameters
    ----------
    workload : callable(sr) -> Workload, or Workload
        The audio (at the server's rate).
    settings : rtnote.analysis.analyzer.Settings
    period : int [frames]
        Period of the server started here (ignored with ``server_name``).
    server_name : str or None
        A running server to use instead of starting one.
    sr : int [Hz]
        Rate of the server started here.
    model_args : sequence of str
        --model options passed on to ``rtnote listen``.
    realtime : bool
        Start jackd with --realtime (else --no-realtime); see JackServer.

    Returns
    -------
    JackRun
    """
    if server_name:
        server = JackServer.existing(server_name)
    else:
        server = JackServer(sr=sr, period=period, prefix="rtnote-bench", realtime=realtime).start()
    try:
        w = workload(server.sr) if callable(workload) else workload
        if w.sr != server.sr:
            w = w.resampled(server.sr)
        run = JackRun(server.period, server.sr, server.name, server.external, w)
        run.realtime = None if server.external else server.realtime
        if not np.any(w.y):
            raise JackError("the audio is silent: nothing to measure")
        tag = f"bench-{os.getpid()}-{period}"
        how = "" if server.external else (" (jackd --realtime)" if server.realtime
                                          else " (jackd --no-realtime)")
        log(f"rtnote: bench --jack: -p {server.period} at {server.sr} Hz "
            f"({run.period_ms:.2f} ms){how}, {w.duration_s:.1f} s of audio")
        with tempfile.TemporaryDirectory(prefix="rtnote-bench-jack-") as tmp:
            stats_path = os.path.join(tmp, "stats.json")
            heard_path = os.path.join(tmp, "heard.wav")
            args = ["listen", "--record", heard_path, "--view", "json", "--midi-out", tag, "--midi-api", "jack", "--host-api", "jack",
                    "--jack-name", f"rtnote-in-{tag}", "--stats", stats_path,
                    "--latency", settings.latency, "--a4", str(settings.a4_hz),
                    "--silence-db", str(settings.silence_db), *model_args]
            client = JackClient(server, name=f"rtnote-probe-{tag}")
            try:
                rt = Rtnote(args, server, timeout=60.0)
                try:
                    if not any(line.startswith("rtnote: listening") for line in rt.stderr_lines):
                        rt.proc.wait(10)
                        raise JackError("rtnote listen did not start: "
                                        + " ".join(rt.stderr.split())[-400:])
                    port = _find_port(client, tag)
                    client.connect_rtnote(audio_client=f"rtnote-in-{tag}", midi_port=port)
                    xruns_before = client.xruns  # connecting may cost the server a cycle
                    start = client.play(w.y, delay_s=LEAD_IN_S)
                    client.wait_frame(client.played_until() + int(tail_s * server.sr),
                                      timeout=w.duration_s + tail_s + 60)
                finally:
                    rt.signal(signal.SIGINT)
                    run.exit_code = rt.wait(60)
                time.sleep(0.05)
                midi = client.note_messages()
                xruns = client.xruns - xruns_before
            finally:
                client.close()
            if run.exit_code != 0:
                last = [line for line in rt.stderr.splitlines() if line.startswith("rtnote: error")]
                run.error = (last[-1] if last else rt.stderr.strip()[-300:]) or f"exit {run.exit_code}"
            try:
                with open(stats_path) as f:
                    stats = json.load(f)
                heard, _ = sf.read(heard_path, dtype="float32")
            except (OSError, ValueError, RuntimeError):
                raise JackError(f"rtnote listen wrote no statistics or recording: "
                                f"{rt.stderr.strip()[-300:]}") from None
        min_silence = int(LEAD_IN_S / 2 * w.sr)
        stream_starts = sound_starts(heard, min_silence)
        if len(stream_starts) == 0:
            raise JackError("rtnote's input never received the played audio (is its input "
                            "connected? another client may feed it)")
        events = _events_from_json(rt.stdout)
        analyze_run(run, w.y, events, midi, start, list(stream_starts), stats, xruns,
                    min_silence=min_silence, stream_ends=list(sound_ends(heard, min_silence)))
    finally:
        server.stop()
    # the same audio through the file path: the algorithmic latency with no server at all
    # (it differs from the live run's only by where the hops fall against the onsets)
    from rtnote.bench.measure import bench

    run.file_algorithmic = bench(w, settings).latency
    return run


def run_all(workload, settings, periods, server_name=None, sr=48000, model_args=(), log=print,
            realtime=True):
    """:func:`run_once` at each period (one server each), or once on ``server_name``."""
    if server_name:
        return [run_once(workload, settings, None, server_name, sr, model_args, log)]
    return [run_once(workload, settings, p, None, sr, model_args, log, realtime=realtime)
            for p in periods]
