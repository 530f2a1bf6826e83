"""The engine: a worker thread that reads hops from the ring buffer, runs the analyzer,
times each step against the latency budget and hands events to the sinks.

Sinks are called from the worker, in list order, as soon as an event exists (put the MIDI
port first). A sink that raises does not keep the event from the others; the engine then
stops, ends the sounding note through every sink, and reports the first error.
"""

import threading
import time

import numpy as np

from rtnote.audio.ringbuffer import RingBuffer


class ComputeStats:
    """Compute time per hop [seconds], kept per analyzer step (one step may cover several
    hops; each of its hops is charged step time / hops)."""

    def __init__(self, hop_s):
        self.hop_s = hop_s
        self._per_hop = np.zeros(4096)
        self._hops = np.zeros(4096, dtype=np.int64)
        self.steps = 0

    def add(self, seconds, n_hops):
        if self.steps == len(self._per_hop):
            self._per_hop = np.concatenate((self._per_hop, np.zeros(self.steps)))
            self._hops = np.concatenate((self._hops, np.zeros(self.steps, dtype=np.int64)))
        self._per_hop[self.steps] = seconds / max(1, n_hops)
        self._hops[self.steps] = n_hops
        self.steps += 1

    @property
    def per_hop_s(self):
        """Compute time of each hop [seconds] (hops of one step share its time)."""
        return np.repeat(self._per_hop[: self.steps], self._hops[: self.steps])

    @property
    def deadline_misses(self):
        """Steps whose compute exceeded the audio duration they covered."""
        return int(np.sum(self._per_hop[: self.steps] > self.hop_s))

    def recent_per_hop_s(self, n_steps=2000):
        """Compute time per hop [seconds] of the last ``n_steps`` steps (one value a step)."""
        steps = self.steps
        return self._per_hop[max(0, steps - n_steps): steps].copy()

    def summary(self):
        per_hop = self.per_hop_s
        if len(per_hop) == 0:
            return {"hops": 0, "budget_ms": self.hop_s * 1e3}
        return {
            "hops": int(len(per_hop)),
            "budget_ms": self.hop_s * 1e3,
            "median_ms": float(np.median(per_hop) * 1e3),
            "p99_ms": float(np.percentile(per_hop, 99) * 1e3),
            "max_ms": float(per_hop.max() * 1e3),
            "deadline_misses": self.deadline_misses,
        }


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
    """

    def __init__(self, analyzer, sinks=(), ring_s=2.0, max_step_hops=64):
        self.analyzer = analyzer
        self.sinks = list(sinks)
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

    def _emit(self, events):
        for event in events:
            self.events += 1
            for sink in self.sinks:
                try:
                    sink.handle(event)
                except Exception as exc:  # noqa: BLE001 - the other sinks still get it
                    if self.error is None:
                        self.error = exc
                    self._stop.set()

    def _work(self):
        analyzer, ring, source = self.analyzer, self.ring, self.source
        hop = analyzer.hop_length
        idle_s = hop / analyzer.sr / 4
        try:
            while not self._stop.is_set():
                done = source.finished.is_set()
                if ring.available() < hop and not done:
                    time.sleep(idle_s)
                    continue
                samples, gap = ring.read(self.max_step)
                if gap:
                    self._emit(analyzer.skip(gap))
                if len(samples) == 0:
                    if done and ring.available() == 0:
                        break
                    continue
                t0 = time.perf_counter()
                self.level_db = float(10.0 * np.log10(np.dot(samples, samples) / len(samples)
                                                      + 1e-12))
                events = analyzer.process(samples)
                self.stats.add(time.perf_counter() - t0, len(samples) // hop)
                self._emit(events)
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
