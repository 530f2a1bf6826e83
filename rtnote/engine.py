"""The engine: a worker thread that reads hops from the ring buffer, runs the analyzer,
times each step against the latency budget and hands events to the sinks.

Audio lost before the analyzer saw it (a ring-buffer overflow, a cycle the audio server
skipped the input) is a gap in the stream. A short one (up to ``SPLICE_S``) is spliced
over: the analysis goes on as if the audio were continuous and the notes sounding over it
go on; the events' samples are put back on the input's clock. A longer one ends the
sounding note, and the stages start afresh after it.

Sinks are called from the worker, in list order, as soon as an event exists (put the MIDI
port first). A sink that raises does not keep the event from the others; the engine then
stops, ends the sounding note through every sink, and reports the first error.
"""

import bisect
import resource
import threading
import time
from dataclasses import replace

import numpy as np

from rtnote.audio.priority import make_this_thread_realtime
from rtnote.audio.ringbuffer import RingBuffer


class ComputeStats:
    """Compute time per hop [seconds], kept per analyzer step (one step may cover several
    hops; each of its hops is charged step time / hops).

    Memory stays flat however long the run: the whole run is summarised in a histogram
    (log bins, 1% wide) with exact counts and maximum, and the last ``keep_steps`` steps are
    kept as they were (for plots and the live view).
    """

    BINS = np.logspace(-7, 1, 8 * 230 + 1)  # 0.1 us .. 10 s, ratio ~1.01

    LATE_KEPT = 100  # late steps described in :attr:`late` (the first ones of the run)

    def __init__(self, hop_s, keep_steps=1 << 20):
        self.hop_s = hop_s
        self.late = []  # (end [sample], hops, wall, CPU, system CPU [ms], faults, preemptions)
        self._per_hop = np.zeros(keep_steps)
        self._hops = np.zeros(keep_steps, dtype=np.int32)
        self._counts = np.zeros(len(self.BINS) + 1, dtype=np.int64)
        self.steps = 0
        self.hops = 0
        self.max_s = 0.0
        self.deadline_misses = 0  # steps whose compute exceeded the audio they covered
        self.misses_off_cpu = 0  # of those, steps spent mostly off the CPU (waiting)

    def add(self, seconds, n_hops, cpu_seconds):
        """One step: wall time [seconds] for ``n_hops`` hops, and the thread's CPU time in it
        [seconds] (a miss that spent more time waiting than on the CPU was waiting for the GIL,
        the scheduler or a stalled sink, not slow analysis). Returns True for a miss."""
        per_hop = float(seconds) / max(1, n_hops)
        i = self.steps % len(self._per_hop)
        self._per_hop[i] = per_hop
        self._hops[i] = n_hops
        self._counts[np.searchsorted(self.BINS, per_hop)] += n_hops
        self.steps += 1
        self.hops += n_hops
        self.max_s = max(self.max_s, per_hop)
        if per_hop <= self.hop_s:
            return False
        self.deadline_misses += 1
        self.misses_off_cpu += cpu_seconds < seconds - cpu_seconds
        return True

    def describe_late(self, end_sample, n_hops, seconds, cpu_seconds, usage):
        """Keep a late step for :attr:`late` (the first ``LATE_KEPT``): the input sample it
        ended at, its hops, wall and CPU time [seconds], and (system CPU [seconds], minor
        page faults, involuntary context switches) in it."""
        if len(self.late) < self.LATE_KEPT:
            sys_s, faults, preempted = usage
            self.late.append((end_sample, int(n_hops), round(seconds * 1e3, 3),
                              round(cpu_seconds * 1e3, 3), round(sys_s * 1e3, 3), int(faults),
                              int(preempted)))

    def _kept(self, n_steps=None):
        """Indices of the last ``n_steps`` kept steps, oldest first."""
        kept = min(self.steps, len(self._per_hop), n_steps or len(self._per_hop))
        return np.arange(self.steps - kept, self.steps) % len(self._per_hop)

    @property
    def per_hop_s(self):
        """Compute time of each kept hop [seconds] (hops of one step share its time)."""
        kept = self._kept()
        return np.repeat(self._per_hop[kept], self._hops[kept])

    def recent_per_hop_s(self, n_steps=2000):
        """Compute time per hop [seconds] of the last ``n_steps`` steps (one value a step)."""
        return self._per_hop[self._kept(n_steps)].copy()

    def quantile_s(self, q):
        """Quantile ``q`` in [0, 1] of the compute time per hop over the whole run [s]."""
        if self.hops == 0:
            return float("nan")
        k = int(np.searchsorted(np.cumsum(self._counts), q * self.hops))
        edges = np.concatenate(([0.0], self.BINS, [self.max_s]))
        return float(min(np.sqrt(max(edges[k], 1e-7) * edges[k + 1]), self.max_s))

    def summary(self):
        if self.hops == 0:
            return {"hops": 0, "budget_ms": self.hop_s * 1e3}
        return {
            "hops": int(self.hops),
            "budget_ms": self.hop_s * 1e3,
            "median_ms": self.quantile_s(0.5) * 1e3,
            "p99_ms": self.quantile_s(0.99) * 1e3,
            "max_ms": self.max_s * 1e3,
            "deadline_misses": int(self.deadline_misses),
            "deadline_misses_off_cpu": int(self.misses_off_cpu),
            "late_steps": [dict(zip(("end_sample", "hops", "wall_ms", "cpu_ms", "system_cpu_ms",
                                     "page_faults", "preempted"), step))
                           for step in self.late],
        }


_SAMPLE_FIELDS = ("onset_sample", "offset_sample", "decision_sample")


def _thread_usage():
    """(system CPU [seconds], minor page faults, involuntary context switches) of the
    calling thread so far; zeros where the system cannot tell (not Linux)."""
    try:
        r = resource.getrusage(resource.RUSAGE_THREAD)
    except (AttributeError, OSError):
        return 0.0, 0, 0
    return r.ru_stime, r.ru_minflt, r.ru_nivcsw


class Engine:
    """Runs a source through an analyzer into sinks.

    Parameters
    ----------
    analyzer : rtnote.analysis.analyzer.Analyzer
    sinks : list of objects with ``handle(event)`` and ``close()``
    ring_s : float > 0 [seconds]
        Ring buffer size.
    max_step_hops : int > 0
        Most hops analyzed per worker step (when audio has piled up).
    recorder : rtnote.sinks.files.AudioRecorder or None
        Gets the audio as the analyzer hears it (``write``), lost audio as ``skip``.
    worker_priority : int or None
        Live: run the worker under real-time priority ``worker_priority`` (1 is the lowest,
        below the audio callbacks) where the system allows, so ordinary processes cannot
        make a step late. None: an ordinary thread.
    """

    SPLICE_S = 0.05  # longest gap spliced over [seconds]

    def __init__(self, analyzer, sinks=(), ring_s=2.0, max_step_hops=64, recorder=None,
                 worker_priority=None):
        self.analyzer = analyzer
        self.splice_len = int(self.SPLICE_S * analyzer.sr)
        self.spliced = 0  # samples of the gaps spliced over so far
        self._splice_at = []  # analyzer's input sample where each splice is
        self._spliced_to = []  # samples spliced over up to and with each
        self.worker_priority = worker_priority
        self.worker_realtime = False  # whether the worker got its real-time priority
        self.sinks = list(sinks)
        self.recorder = recorder
        self.ring = RingBuffer(int(ring_s * analyzer.sr))
        self.max_step = max_step_hops * analyzer.hop_length
        self.stats = ComputeStats(analyzer.hop_length / analyzer.sr)
        self.events = 0
        self.error = None
        self.level_db = -120.0  # RMS level of the last analyzed step [dBFS]
        self._stop = threading.Event()
        self._thread = None

    def start(self, source):
        """Start the source and the worker thread."""
        self.source = source
        block = int(getattr(source, "blocksize", 0) or 0)
        capacity = max(self.ring.capacity, 2 * block)  # room for two blocks, or all would drop
        make_ring = getattr(source, "make_ring", None)  # a source in another process shares it
        if make_ring is not None or capacity > self.ring.capacity:
            self.ring = (make_ring or RingBuffer)(capacity)
        source.start(self.ring)
        self._thread = threading.Thread(target=self._work, name="rtnote-worker", daemon=True)
        self._thread.start()

    def stop(self):
        """Ask the worker to stop (it ends the sounding note)."""
        self._stop.set()

    def wait(self, timeout=None):
        """Wait for the worker; True when it has ended (or never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self, source, on_progress=None):
        """Start, wait for the end of the stream (or Ctrl-C), stop; re-raises a source error.

        ``on_progress()`` is called every 0.1 s while it runs."""
        self.start(source)
        try:
            while not self.wait(0.1):
                if on_progress:
                    on_progress()
        finally:
            self.stop()
            self.wait()
            source.stop()
        if source.error is not None:
            raise source.error
        if self.error is not None:
            raise self.error

    def on_input_clock(self, sample):
        """The analyzer's input ``sample`` on the input's clock (the gaps spliced over before
        it put back) [samples]."""
        k = bisect.bisect_right(self._splice_at, sample)
        return sample + (self._spliced_to[k - 1] if k else 0)

    @property
    def position(self):
        """Input analyzed so far, on the input's clock [samples]."""
        return self.on_input_clock(self.analyzer.samples_seen)

    def _emit(self, events):
        for event in events:
            if self._splice_at:
                event = replace(event, **{name: self.on_input_clock(getattr(event, name))
                                          for name in _SAMPLE_FIELDS if hasattr(event, name)})
            self.events += 1
            for sink in self.sinks:
                try:
                    sink.handle(event)
                except Exception as exc:  # noqa: BLE001 - the other sinks still get it
                    if self.error is None:
                        self.error = exc
                    self._stop.set()

    def _gap(self, n_samples):
        """Audio lost before the analyzer saw it [samples] (see the module docstring)."""
        if n_samples > self.splice_len:
            self._emit(self.analyzer.skip(n_samples))
        else:
            self.spliced += n_samples
            self._splice_at.append(self.analyzer.samples_received)
            self._spliced_to.append(self.spliced)
        if self.recorder is not None:
            self.recorder.skip(n_samples)

    def _work(self):
        analyzer, ring, source = self.analyzer, self.ring, self.source
        hop = analyzer.hop_length
        idle_s = hop / analyzer.sr / 4
        if self.worker_priority is not None:
            self.worker_realtime = make_this_thread_realtime(self.worker_priority)
        try:
            while not self._stop.is_set():
                done = source.finished.is_set()
                if ring.available() < hop and not done:
                    self._emit(analyzer.poll())  # notes held for their family's answer
                    time.sleep(idle_s)
                    continue
                samples, gap = ring.read(self.max_step)
                if gap:
                    self._gap(gap)
                if len(samples) == 0:
                    if done and ring.available() == 0:
                        lost = ring.lost_at_end()  # the source has stopped writing
                        if lost:
                            self._gap(lost)
                        break
                    continue
                t0, cpu0, usage0 = time.perf_counter(), time.thread_time(), _thread_usage()
                self.level_db = float(10.0 * np.log10(np.dot(samples, samples) / len(samples)
                                                      + 1e-12))
                events = analyzer.process(samples)
                wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
                n_hops = len(samples) // hop
                if self.stats.add(wall, n_hops, cpu):
                    self.stats.describe_late(self.position, n_hops, wall, cpu,
                                             [b - a for a, b in zip(usage0, _thread_usage())])
                self._emit(events)
                if self.recorder is not None:
                    self.recorder.write(samples)
        except Exception as exc:  # noqa: BLE001 - reported by run(), notes still ended
            if self.error is None:
                self.error = exc
        finally:
            try:
                events = analyzer.finish()
            except Exception as exc:  # noqa: BLE001
                events = []
                if self.error is None:
                    self.error = exc
            self._emit(events)
