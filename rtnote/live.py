"""Live mode: a source (a device, or a file paced in real time) through the same engine as
``transcribe``, into the MIDI port, the terminal view and optional files.

:class:`LiveRun` owns the shutdown story. Whatever ends the run -- the end of the stream,
Ctrl-C, SIGTERM, a vanished device or MIDI port, an exception in any thread -- the engine
is stopped, the analyzer ends the sounding note through every sink, the MIDI sink ends any
note still on and sends "all notes off", the source and the family classifier's process
stop, files are written, and the run returns an exit
code with at most one error line.
"""

import gc
import json
import os
import signal
import sys
import threading
import time

import numpy as np

from rtnote import interrupts
from rtnote.errors import MidiPortError, OutputError, RtnoteError
from rtnote.sinks.display import LineView, NoteState, RichView, RunStatus, ViewModel, latency_summary_ms
from rtnote.sinks.files import EventList, JsonLinesSink, MidiFileSink, atomic_write


class _Stop(Exception):
    """Raised inside the run loop to end it; carries the exit code and message."""


class LiveRun:
    """One live run.

    Parameters
    ----------
    engine : rtnote.engine.Engine
        Built on the analyzer, with no sinks yet (LiveRun adds them, MIDI first).
    source : a source (rtnote.audio.live.LiveSource or a paced FileSource)
    view : 'rich' | 'plain' | 'json' | 'none'
        Terminal view, one line per event, JSON lines to stdout, or nothing.
    midi : rtnote.sinks.midiport.MidiOutSink or None
    title : str
        What is being listened to.
    midi_file, events_file : str or None
        Write the notes of the run there at the end (same notes as the MIDI port).
    stats_path : str or None
        Write the run's counters as JSON there at the end.
    console : rich.console.Console or None
        For the rich view.
    announce : str or None
        Printed to stderr once the source has started (what is listened to, where MIDI goes).
    """

    def __init__(self, engine, source, view="rich", midi=None, title="rtnote",
                 midi_file=None, events_file=None, stats_path=None, console=None,
                 announce=None):
        self.engine = engine
        self.source = source
        self.midi = midi
        self.view_mode = view
        self.title = title
        self.midi_file = midi_file
        self.events_file = events_file
        self.stats_path = stats_path
        self.console = console
        self.announce = announce
        self.state = NoteState()
        self.recorded = EventList() if (midi_file or events_file) else None
        self.lines = LineView(view) if view in ("plain", "json") else None
        sinks = [s for s in (midi, self.state, self.lines, self.recorded) if s is not None]
        engine.sinks = sinks + [s for s in engine.sinks if s not in sinks]
        self.status = RunStatus(engine, source)
        self.stopped_by = None  # 'SIGINT', 'SIGTERM', ... or None
        self._signal = None
        self._thread_error = None
        self.started_at = None
        self.stats = None
        self._started = False

    # -- the loop ---------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        self._signal = signum

    def _on_thread_exception(self, args):
        if self._thread_error is None:
            self._thread_error = (args.thread.name if args.thread else "?", args.exc_value)

    def _check(self):
        """Raise _Stop when the run must end for a reason other than the stream's end."""
        if self._signal is not None:
            name = signal.Signals(self._signal).name
            self.stopped_by = name
            raise _Stop(name)
        if self._thread_error is not None:
            name, exc = self._thread_error
            raise _Stop(f"internal error in thread {name}: {type(exc).__name__}: {exc}")
        if self.midi is not None and not self.midi.target_present():
            raise _Stop(MidiPortError(f"MIDI port {self.midi.target} went away"))

    def run(self):
        """Run until the stream ends or something stops it.

        Returns
        -------
        int
            Exit code: 0 at the end of the stream or on Ctrl-C/SIGTERM, 1 on an error (its
            one line is printed as ``rtnote: error: ...``).
        """
        error = None
        old_handlers = {}
        old_hook = threading.excepthook
        threading.excepthook = self._on_thread_exception
        view = None
        next_port_check = 0.0
        try:
            if threading.current_thread() is threading.main_thread():
                for sig in interrupts.handled():  # not one the process was started ignoring
                    old_handlers[sig] = signal.signal(sig, self._on_signal)
                earlier = interrupts.take()  # one that came before, if a library swallowed it
                if earlier is not None:  # not over one that came since
                    self._signal = earlier
            if self.view_mode == "rich":
                view = RichView(ViewModel(self.state, self.status, self.title), self.console)
            # the set-up's objects (numpy, scipy, the model) are never freed: keep them out of
            # the collector's full passes, which hold the GIL the worker waits for
            gc.collect()
            gc.freeze()
            # the worker waits at most this long for the GIL while the view thread renders
            sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
            self.started_at = time.monotonic()
            self.engine.start(self.source)
            self._started = True
            if self.announce:
                print(self.announce, file=sys.stderr, flush=True)
            if self.lines is not None:
                self.lines.start()
            if view is not None:
                view.start()
            while not self.engine.wait(0.1):  # rarely: each wake-up takes the worker's GIL
                if self._signal is not None or self._thread_error is not None:
                    self._check()
                if self.midi is not None and self.midi.target and time.monotonic() > next_port_check:
                    next_port_check = time.monotonic() + 0.5
                    self._check()
        except _Stop as stop:
            reason = stop.args[0]
            if isinstance(reason, RtnoteError) or self.stopped_by is None:
                error = reason
        except RtnoteError as exc:
            error = exc
        finally:
            self.engine.stop()
            ended = self.engine.wait(5.0)
            self.source.stop()
            classifier = self.engine.analyzer.family.classifier
            if hasattr(classifier, "close"):
                classifier.close()  # the process of its looks
            midi_error = None
            if self.midi is not None:
                self.midi.close()
                midi_error = self.midi.error
            if view is not None:
                view.stop()
            if self.lines is not None:
                self.lines.stop()
            threading.excepthook = old_hook
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        if not ended and error is None:
            error = RtnoteError("the analyzer did not stop within 5 s")
        if error is None and self.source.error is not None:
            error = self.source.error
        if error is None and self.engine.error is not None:
            error = self.engine.error
        if error is None and midi_error is not None:
            error = midi_error
        if error is None and self._thread_error is not None:
            name, exc = self._thread_error
            error = f"internal error in thread {name}: {type(exc).__name__}: {exc}"
        self.stats = self.summary()
        failed = self._write_outputs(error)
        return self._report(error or failed)

    # -- the end ----------------------------------------------------------------------
    def summary(self):
        """Counters of the run (what ``--stats`` writes)."""
        engine, source = self.engine, self.source
        snap = self.status.snapshot()
        return {
            "duration_s": round(engine.position / engine.analyzer.sr, 3),
            "wall_s": round(time.monotonic() - (self.started_at or time.monotonic()), 3),
            "sr": engine.analyzer.sr,
            "hop_length": engine.analyzer.hop_length,
            "notes": self.state.count,
            "families": {str(k): v for k, v in self.state.families.items()},
            "latency_ms": latency_summary_ms(self.state.all_latency_s),
            "compute": engine.stats.summary(),
            "deadline_misses": snap["deadline_misses"],
            "overflows": snap["overflows"],
            "dropped_samples": int(engine.ring.dropped_samples),
            "missed_samples": int(engine.ring.missed_samples),  # cycles the server skipped
            "spliced_samples": int(engine.spliced),
            "dropped_cycles": snap["dropped_cycles"],
            "samples_in": int(getattr(source, "frames_read", getattr(source, "frames", 0))),
            "callbacks": int(getattr(source, "callbacks", 0)),
            "input_underflows": int(getattr(source, "input_underflows", 0)),
            "midi_messages": self.midi.sent if self.midi is not None else None,
            "worker_realtime": engine.worker_realtime,
            "stopped_by": self.stopped_by,
            "family_process": self._family_process(),
        }

    def _family_process(self):
        """Counters of the family classifier's process, if the run has one."""
        process = self.engine.analyzer.family.classifier
        if not hasattr(process, "lost"):
            return None
        # a note_on waits for its look's answer (last 4096 notes) [ms]
        held_ms = 1e3 * np.asarray(process.ready_s)
        return {"answers_waited": process.waits, "lost": process.lost,
                "note_on_held_ms": {"median": float(np.median(held_ms)),
                                    "p99": float(np.percentile(held_ms, 99))} if len(held_ms) else None}

    def _write_outputs(self, error):
        """Write the files asked for, each whole or not at all (temp file + rename); one
        that cannot be written does not keep the others from being written.

        Returns
        -------
        rtnote.errors.OutputError or None
            The first file that could not be written.
        """
        failed = None
        if self.engine.recorder is not None:
            try:
                self.engine.recorder.close()
            except OutputError as exc:
                failed = exc
        if self.recorded is not None:
            for sink_type, path in ((MidiFileSink, self.midi_file), (JsonLinesSink, self.events_file)):
                if path:
                    sink = sink_type(path)
                    sink.events = self.recorded.events
                    try:
                        sink.close()
                    except OutputError as exc:
                        failed = failed or exc
        if self.stats_path:
            stats = dict(self.stats, error=str(error or failed) if (error or failed) else None)
            try:
                with atomic_write(self.stats_path) as f:
                    json.dump(stats, f, indent=1)
            except OutputError as exc:
                failed = failed or exc
        return failed

    def _report(self, error):
        if not self._started:  # the source never started: only the reason
            print(f"rtnote: error: {error}", file=sys.stderr, flush=True)
            return 1
        s = self.stats
        lat = s["latency_ms"]
        lat_text = (f"latency median {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms; "
                    if lat else "")
        comp = s["compute"]
        comp_text = (f"compute {comp['median_ms']:.2f} ms/hop (budget {comp['budget_ms']:.2f}), "
                     if comp.get("hops") else "")
        why = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
        line = (f"rtnote: {s['notes']} notes in {s['duration_s']:.1f} s{why}; {lat_text}"
                f"{comp_text}{s['deadline_misses']} late hops, {s['overflows']} overflows, "
                f"{s['dropped_cycles']} dropped cycles")
        print(line, file=sys.stderr, flush=True)
        if (s["family_process"] or {}).get("lost"):
            print(f"rtnote: warning: {s['family_process']['lost']}; its looks were made in "
                  "rtnote's own process from then on", file=sys.stderr, flush=True)
        if error is not None:
            print(f"rtnote: error: {error}", file=sys.stderr, flush=True)
            return 1
        return 0


def stdout_is_terminal():
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"
