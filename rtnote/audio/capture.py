"""The capture process: the live input's audio callback, alone in a process of its own.

A sounddevice callback is Python, so it needs its process's GIL every period (5.3 ms at
256 frames, 48 kHz). In the process that also runs the analyzer, the worker thread holds
the GIL -- a lock the callback then waits for -- and when the worker is preempted while
holding it, the callback misses the period: a dropped cycle on JACK. Here the callback is
the only Python that runs (the main thread sleeps in ``select``), and it writes into a
:class:`~rtnote.audio.ringbuffer.RingBuffer` in memory shared with the engine.

The parent (:class:`rtnote.audio.live.LiveSource`) runs ``python -m rtnote.audio.capture
CONFIG`` with SIGINT, SIGTERM and SIGHUP blocked (the parent handles them and stops the
child) and talks to it in JSON lines:

1. child -> ``{"device": {...}}`` (the input it chose and its rate), or ``{"error": ...}``
   and exit 1;
2. parent -> ``{"start": PATH, "capacity": N, "max_gaps": M}`` (a file to map);
   child -> ``{"started": true}`` once the stream runs, or ``{"error": ...}``;
3. parent -> anything, or end of input (the parent died): the child stops the stream and
   exits 0. A stream that stops by itself (device unplugged, server gone) sets
   ``gone`` in the shared counters and the child exits at once, without waiting on
   PortAudio (which, with the server gone, would hang or abort).
"""

import ctypes
import ctypes.util
import gc
import json
import mmap
import os
import select
import sys
import time
from collections import deque

import numpy as np

from rtnote.audio.priority import make_this_thread_realtime
from rtnote.audio.ringbuffer import RingBuffer

#: Shared counters (float64, before the ring in the mapped file), written by the child only.
COUNTERS = ("callbacks", "frames", "input_overflows", "input_underflows", "ring_overflows",
            "last_callback", "gone")
CALLBACKS, FRAMES, INPUT_OVERFLOWS, INPUT_UNDERFLOWS, RING_OVERFLOWS, LAST_CALLBACK, GONE = \
    range(len(COUNTERS))
COUNTERS_BYTES = 8 * 8  # room for 8
MAX_BLOCK = 1 << 16  # largest callback block mixed without allocating [frames]


def map_file(path, size=None):
    """Map ``path`` shared; ``size`` [bytes]: create it that large (zeroed) first."""
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if size is not None else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if size is not None:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, 0)
    finally:
        os.close(fd)


def shared_views(mapped, capacity, max_gaps):
    """(counters [float64 array, see COUNTERS], ring) over a mapped file."""
    counters = np.ndarray(len(COUNTERS), dtype=np.float64, buffer=mapped)
    ring = RingBuffer(capacity, max_gaps, memoryview(mapped)[COUNTERS_BYTES:])
    return counters, ring


def _send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class JackClock:
    """The JACK server's frame clock: ``frame()`` is the first frame of the cycle running now
    (jack_last_frame_time), read through a client of its own that is never activated (no
    ports, no process thread). Raises OSError where libjack or the server is missing."""

    def __init__(self, name):
        path = ctypes.util.find_library("jack")
        self._lib = lib = ctypes.CDLL(path or "libjack.so.0")
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_last_frame_time.restype = ctypes.c_uint32
        lib.jack_last_frame_time.argtypes = [ctypes.c_void_p]
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        status = ctypes.c_int(0)
        self._client = lib.jack_client_open(name.encode(), 0x01, ctypes.byref(status))  # JackNoStartServer
        if not self._client:
            raise OSError(f"cannot open JACK client {name!r} (status {status.value:#x})")

    def frame(self):
        return self._lib.jack_last_frame_time(self._client)

    def close(self):
        self._lib.jack_client_close(self._client)


class _Callback:
    """The stream callback: count, mix to mono, write into the ring. Nothing else.

    With the server's frame clock (``clock``, a :class:`JackClock`), cycles the server ran
    without this callback (its process kept off the CPU too long) are told to the ring as
    lost, so the reader's sample clock stays the server's. The clock read by a late callback
    can already be the next cycle's, so a loss counts once ``CONFIRM`` callbacks in a row
    agree on it; it is told before the block after them (a few ms late: the samples of
    those blocks are the only ones off)."""

    CONFIRM = 3

    def __init__(self, counters, ring, channels, clock=None):
        self.counters = counters
        self.ring = ring
        self.channels = channels
        self.clock = clock
        self.mix = np.zeros(MAX_BLOCK, dtype=np.float32)
        self._clock_at = None  # server frame at the last callback
        self._unaccounted = 0  # frames the clock moved that were not delivered or told lost
        self._recent = deque(maxlen=self.CONFIRM)  # _unaccounted at the last callbacks

    def __call__(self, indata, frames, time_info, status):
        c = self.counters
        c[CALLBACKS] += 1
        c[FRAMES] += frames
        c[LAST_CALLBACK] = time.monotonic()
        if status:
            c[INPUT_OVERFLOWS] += bool(status.input_overflow)
            c[INPUT_UNDERFLOWS] += bool(status.input_underflow)
        if self.clock is not None:
            now = self.clock.frame()
            if self._clock_at is not None:
                self._unaccounted += (now - self._clock_at) & 0xFFFFFFFF  # frames wrap at 2^32
            self._clock_at = now
            self._recent.append(self._unaccounted)
            lost = min(self._recent)  # whole cycles the server ran without this callback
            if lost >= frames and len(self._recent) == self.CONFIRM:
                self.ring.lose(lost)
                self._unaccounted -= lost
                self._recent.clear()
            self._unaccounted -= frames
        if self.channels == 1:
            block = indata[:, 0]
        elif frames <= MAX_BLOCK:
            block = np.mean(indata, axis=1, out=self.mix[:frames])
        else:
            block = indata.mean(axis=1, dtype=np.float32)
        if not self.ring.write(block):
            c[RING_OVERFLOWS] += 1


def _choose_device(sd, config):
    """The input ``config`` asks for: {index, name, hostapi, samplerate [Hz], why}.
    Raises DeviceError or ConfigError."""
    from rtnote.audio.live import choose_input, hostapi_name
    from rtnote.errors import ConfigError

    index, why = choose_input(config["device"], config["host_api"])
    info = sd.query_devices(index)
    if config["channels"] > info["max_input_channels"]:
        raise ConfigError(f"--channels {config['channels']}: {info['name']} has only "
                          f"{info['max_input_channels']} input channels")
    return {"index": index, "name": info["name"], "hostapi": hostapi_name(sd, info),
            "samplerate": int(config["samplerate"] or round(info["default_samplerate"])),
            "why": why}


def run(config):
    """The child's life: choose the device, wait for the go, capture until told to stop.

    Returns the exit code."""
    from rtnote.audio.live import import_sounddevice, one_line
    from rtnote.errors import DeviceError, RtnoteError

    try:
        sd = import_sounddevice(config["jack_name"])
        device = _choose_device(sd, config)
    except RtnoteError as exc:
        _send({"error": str(exc), "kind": type(exc).__name__})
        return 1
    _send({"device": device})
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    start = json.loads(line)
    mapped = map_file(start["start"])
    counters, ring = shared_views(mapped, start["capacity"], start["max_gaps"])
    clock = None
    if device["hostapi"].startswith("JACK"):
        try:
            clock = JackClock(f"{config['jack_name']}-clock")
        except OSError:
            pass  # lost cycles then go uncounted, as on other host APIs
    try:
        stream = sd.InputStream(device=device["index"], samplerate=device["samplerate"],
                                blocksize=config["blocksize"], channels=config["channels"],
                                dtype="float32",
                                callback=_Callback(counters, ring, config["channels"], clock))
        stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        error = DeviceError(f"cannot open input {device['index']} ({device['name']}, "
                            f"{device['hostapi']}) at {device['samplerate']} Hz: {one_line(exc)}")
        _send({"error": str(error), "kind": "DeviceError"})
        return 1
    _send({"started": True})
    gc.disable()  # nothing here makes reference cycles: no collection inside the callback
    # This thread wakes every 50 ms to see whether the stream still runs, taking the GIL for
    # microseconds; preempted meanwhile by an ordinary process it would keep the callback
    # waiting for the GIL for milliseconds. Real-time, it is not preempted by those.
    make_this_thread_realtime(1)
    while not select.select([sys.stdin], [], [], 0.05)[0]:  # a line or EOF: stop
        if not stream.active:
            counters[GONE] = 1
            os._exit(0)  # not Pa_Terminate: with the server gone it hangs or aborts
    stream.stop()
    stream.close()
    if clock is not None:
        clock.close()
    return 0


def main():
    try:
        code = run(json.loads(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 - one line to the parent, never a traceback
        _send({"error": f"audio capture failed: {type(exc).__name__}: {exc}", "kind": "DeviceError"})
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
