"""The terminal view of a live run.

The engine's worker only stores events in a :class:`NoteState` (cheap, never blocks). What
the user sees is drawn from the latest state at its own rate: by rich's Live thread in a
terminal (:class:`RichView`), or by a writer thread that prints one line per event when the
output is not a terminal (:class:`LineView`, plain text or JSON lines). A slow terminal or a
full pipe therefore never delays the analyzer or the MIDI port.

The rich view shows the current note (name, octave, cents needle), its instrument family
and confidence, the input level, a piano roll of the last seconds, and a status block:
algorithmic latency (median/p95 of the recent notes), compute per hop against the budget,
deadline misses, ring-buffer overflows and dropped audio cycles. It fits 60 columns and
reads without colour.
"""

import json
import queue
import sys
import threading
from collections import deque

import numpy as np

from rtnote.events import FamilyUpdate, NoteOff, NoteOn, event_to_dict, event_to_json, note_name


class NoteState:
    """The latest notes, kept for the views; ``handle`` is called from the worker.

    Parameters
    ----------
    history : int > 0
        Notes remembered for the piano roll and history.
    """

    def __init__(self, history=64):
        self.notes = deque(maxlen=history)  # dicts: id, pitch, cents, onset_s, offset_s, family, conf
        self.latency_s = deque(maxlen=512)  # algorithmic latency of recent note_ons [s]
        self.all_latency_s = []  # every note_on's [s], for the end-of-run summary
        self.current = None  # the dict of the sounding note, or None
        self.count = 0
        self.families = {}  # family -> note count

    def handle(self, event):
        if isinstance(event, NoteOn):
            note = {"id": event.note_id, "pitch": event.pitch, "cents": event.cents,
                    "velocity": event.velocity, "onset_s": event.time, "offset_s": None,
                    "family": event.family, "conf": event.family_conf}
            self.notes.append(note)
            self.current = note
            self.count += 1
            self.families[event.family] = self.families.get(event.family, 0) + 1
            latency = (event.decision_sample - event.onset_sample) / event.sr
            self.latency_s.append(latency)
            self.all_latency_s.append(latency)
        elif isinstance(event, NoteOff):
            for note in reversed(self.notes):
                if note["id"] == event.note_id:
                    note["offset_s"] = event.time
                    break
            if self.current is not None and self.current["id"] == event.note_id:
                self.current = None
        elif isinstance(event, FamilyUpdate):
            for note in reversed(self.notes):
                if note["id"] == event.note_id:
                    note["family"], note["conf"] = event.family, event.family_conf
                    break

    def close(self):
        pass


def latency_summary_ms(latency_s):
    """{'median', 'p95', 'max'} [ms] of latencies [s], or {} when there are none."""
    if len(latency_s) == 0:
        return {}
    a = np.asarray(latency_s) * 1e3
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max())}


class RunStatus:
    """Reads the engine's and the source's counters for the views (no locks: plain ints).

    Parameters
    ----------
    engine : rtnote.engine.Engine
    source : a source (LiveSource counts dropped cycles; a file source has none)
    """

    def __init__(self, engine, source):
        self.engine = engine
        self.source = source

    def snapshot(self):
        engine, source = self.engine, self.source
        stats = engine.stats
        recent = stats.recent_per_hop_s(2000)
        sr = engine.analyzer.sr
        return {
            "now_s": engine.position / sr,
            "level_db": engine.level_db,
            "budget_ms": stats.hop_s * 1e3,
            "compute_median_ms": float(np.median(recent) * 1e3) if len(recent) else None,
            "compute_p99_ms": float(np.percentile(recent, 99) * 1e3) if len(recent) else None,
            "deadline_misses": stats.deadline_misses,
            "overflows": int(engine.ring.dropped_blocks),
            "dropped_cycles": int(getattr(source, "dropped_cycles", 0)),
        }


def _cents_needle(cents, width, ascii_only):
    """'-50 ----|--*-- +50': the needle at ``cents`` on a scale of +-50 cents."""
    inner = max(9, width - 8)
    inner -= 1 - inner % 2  # odd, so the centre is a column
    line, centre, mark = ("-", "|", "o") if ascii_only else ("─", "┼", "●")
    cells = [line] * inner
    cells[inner // 2] = centre
    if cents is not None:
        pos = int(round((np.clip(cents, -50, 50) + 50) / 100 * (inner - 1)))
        cells[pos] = mark
    return f"-50 {''.join(cells)} +50"


def _level_bar(level_db, width, ascii_only, floor_db=-60.0):
    width = max(4, width)
    full = int(round(np.clip((level_db - floor_db) / -floor_db, 0, 1) * width))
    on, off = ("#", ".") if ascii_only else ("█", "░")
    return on * full + off * (width - full)


def piano_roll(notes, now_s, width, rows=6, span_s=None, ascii_only=False):
    """Lines of a piano roll of ``notes`` (NoteState dicts) ending at ``now_s`` [s].

    One row per pitch (the ``rows`` most recent pitches, highest on top), one column per
    ``span_s / width`` seconds.
    """
    label_w = 5
    cols = max(8, width - label_w)
    span_s = span_s or cols * 0.125
    start_s = now_s - span_s
    visible = [n for n in notes if (n["offset_s"] if n["offset_s"] is not None else now_s) >= start_s]
    pitches = []
    for n in reversed(visible):
        if n["pitch"] not in pitches:
            pitches.append(n["pitch"])
        if len(pitches) == rows:
            break
    on, off = ("#", ".") if ascii_only else ("█", "·")
    lines = []
    for pitch in sorted(pitches, reverse=True):
        cells = [off] * cols
        for n in visible:
            if n["pitch"] != pitch:
                continue
            end = n["offset_s"] if n["offset_s"] is not None else now_s
            a = int((n["onset_s"] - start_s) / span_s * cols)
            b = int(np.ceil((end - start_s) / span_s * cols))
            for i in range(max(0, a), min(cols, max(b, a + 1))):
                cells[i] = on
        lines.append(f"{note_name(pitch):<{label_w}}{''.join(cells)}")
    return lines


def _fmt_ms(value):
    return "--" if value is None else (f"{value:.0f}" if value >= 10 else f"{value:.1f}")


class ViewModel:
    """Builds the rich renderable of the live view from a NoteState and a RunStatus.

    Parameters
    ----------
    state : NoteState
    status : RunStatus or object with ``snapshot()``
    title : str
        What is being listened to (shown on the panel).
    """

    def __init__(self, state, status, title="rtnote"):
        self.state = state
        self.status = status
        self.title = title

    def __rich_console__(self, console, options):
        from rich.panel import Panel
        from rich.text import Text

        width = min(options.max_width, 100)
        inner = width - 4
        ascii_only = options.ascii_only
        snap = self.status.snapshot()
        state = self.state
        notes = list(state.notes)
        current = state.current
        lines = []
        if current is not None:
            head = Text(f"{note_name(current['pitch']):<4}", style="bold cyan")
            head.append(f" {current['cents']:+5.1f} cents", style="cyan")
            fam = current["family"] or "family: no model"
            conf = f" {current['conf'] * 100:.0f}%" if current["conf"] is not None else ""
            head.append(f"   {fam}{conf}", style="magenta")
        else:
            head = Text("--  ", style="bold")
            head.append("       listening", style="dim")
        lines.append(head)
        lines.append(Text(_cents_needle(current["cents"] if current else None, inner,
                                        ascii_only), style="cyan" if current else "dim"))
        level = snap["level_db"]
        meter_w = inner - 17
        bar = Text("level ")
        bar.append(_level_bar(level, meter_w, ascii_only), style="green" if level < -6 else "red")
        bar.append(f" {max(level, -99.0):5.0f} dBFS")
        lines.append(bar)
        lines.append(Text(""))
        roll = piano_roll(notes, snap["now_s"], inner, ascii_only=ascii_only)
        if roll:
            for row in roll:
                lines.append(Text(row, style="yellow"))
        else:
            lines.append(Text("(no notes yet)", style="dim"))
        history = [note_name(n["pitch"]) + (f" {n['family']}" if n["family"] else "")
                   for n in notes[-6:]]
        hist = Text("last: ", style="dim")
        hist.append(", ".join(history) if history else "--")
        hist.truncate(inner, overflow="ellipsis")
        lines.append(hist)
        lines.append(Text(""))
        lat = latency_summary_ms(state.latency_s)
        lines.append(Text(f"latency {_fmt_ms(lat.get('median'))} / {_fmt_ms(lat.get('p95'))} ms "
                          f"(median / p95, {len(state.latency_s)} notes)"))
        misses = snap["deadline_misses"]
        lines.append(Text(f"compute {_fmt_ms(snap['compute_median_ms'])} ms/hop, p99 "
                          f"{_fmt_ms(snap['compute_p99_ms'])}, budget {snap['budget_ms']:.1f}, "
                          f"late {misses}", style="red" if misses else ""))
        drops = snap["overflows"] + snap["dropped_cycles"]
        lines.append(Text(f"overflows {snap['overflows']}, dropped cycles "
                          f"{snap['dropped_cycles']}, notes {state.count}",
                          style="bold red" if drops else ""))
        for line in lines:
            line.no_wrap = True
            line.overflow = "ellipsis"
        body = Text("\n").join(lines)
        title = self.title if len(self.title) <= inner - 4 else self.title[: inner - 5] + "…"
        yield Panel(body, title=title, title_align="left", width=width,
                    subtitle="Ctrl-C to stop", subtitle_align="right")


class RichView:
    """A rich Live view redrawn ``fps`` times a second from the latest state.

    Parameters
    ----------
    model : ViewModel
    console : rich.console.Console or None
    fps : float > 0 [Hz]
    """

    def __init__(self, model, console=None, fps=10.0):
        from rich.console import Console

        self.model = model
        self.console = console or Console()
        self.fps = fps
        self._live = None

    def start(self):
        from rich.live import Live

        self._live = Live(get_renderable=lambda: self.model, console=self.console,
                          refresh_per_second=self.fps, transient=False,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def stop(self):
        if self._live is not None:
            live, self._live = self._live, None
            live.refresh()
            live.stop()


def plain_line(event):
    """One human-readable line for an event (plain mode)."""
    if isinstance(event, NoteOn):
        fam = f"  {event.family} {event.family_conf * 100:.0f}%" if event.family else ""
        latency_ms = (event.decision_sample - event.onset_sample) / event.sr * 1e3
        return (f"{event.time:9.3f} s  on   {note_name(event.pitch):<4} {event.cents:+6.1f} c  "
                f"vel {event.velocity:3d}  latency {latency_ms:4.0f} ms{fam}")
    if isinstance(event, NoteOff):
        return f"{event.time:9.3f} s  off  {note_name(event.pitch):<4}"
    if isinstance(event, FamilyUpdate):
        return (f"{event.time:9.3f} s  fam  note {event.note_id}: {event.family} "
                f"{event.family_conf * 100:.0f}%")
    return json.dumps(event_to_dict(event))


class LineView:
    """Prints one line per event (plain text or JSON lines) from its own thread.

    Parameters
    ----------
    mode : 'plain' | 'json'
    stream : text file, default sys.stdout
    """

    def __init__(self, mode="plain", stream=None):
        self.mode = mode
        self.stream = stream or sys.stdout
        self._queue = queue.SimpleQueue()
        self._thread = None
        self.error = None

    def handle(self, event):
        self._queue.put(event)

    def start(self):
        self._thread = threading.Thread(target=self._write, name="rtnote-lines", daemon=True)
        self._thread.start()

    def _write(self):
        fmt = event_to_json if self.mode == "json" else plain_line
        while True:
            event = self._queue.get()
            if event is None:
                break
            if self.error is not None:
                continue  # the reader went away: keep draining, stop writing
            try:
                self.stream.write(fmt(event) + "\n")
                if self._queue.empty():
                    self.stream.flush()
            except (OSError, ValueError) as exc:
                self.error = exc

    def stop(self, timeout=5.0):
        """Print what is queued, then end the writer."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def close(self):
        pass
