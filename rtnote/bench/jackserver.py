"""A real JACK server (dummy driver) and a probe client that plays audio into rtnote and
receives its MIDI, both on JACK's frame clock; and rtnote run as a subprocess on that server.

Shared by ``rtnote bench --jack``, the live and MIDI tests (tests/jackfix.py) and
benchmarks/live_soak.py. See docs/JACK notes: a private server under a unique name, clients
told never to start one, PortAudio initialised only in the rtnote subprocess (after the
server is up), the server stopped with SIGTERM.

JACK-Client (``import jack``) is imported lazily: without libjack the rest of rtnote works.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from rtnote.errors import DeviceError

SR = 48000
PERIOD = 256


class JackError(DeviceError):
    """The JACK server or a client on it cannot be started, or misbehaves."""


def jack_available():
    """None when jackd and JACK-Client are usable, else the reason (one line)."""
    import shutil

    if shutil.which("jackd") is None:
        return "jackd is not installed (apt-get install jackd2)"
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"JACK-Client is not usable: {exc} (apt-get install libjack-jackd2-0; pip install JACK-Client)"
    return None


def _quiet_jack():
    import jack

    jack.set_error_function(lambda msg: None)
    jack.set_info_function(lambda msg: None)
    return jack


class JackServer:
    """jackd with the dummy driver under a unique name; ``stop()`` is idempotent.

    Parameters
    ----------
    sr : int > 0 [Hz]
    period : int > 0 [frames]
        JACK period (``-p``): frames per process cycle.
    prefix : str
        Start of the server's unique name.
    realtime : bool
        ``jackd --realtime`` (its threads and its clients' process threads at realtime
        priority, as on a musician's machine; where that is not allowed jackd goes on
        without) instead of ``--no-realtime`` (the tests' choice).
    """

    def __init__(self, sr=SR, period=PERIOD, prefix="rtnote-test", realtime=False):
        self.name = f"{prefix}-{os.getpid()}-{random.randrange(1 << 30)}"
        self.sr = int(sr)
        self.period = int(period)
        self.realtime = bool(realtime)
        self.proc = None
        self.external = False

    @classmethod
    def existing(cls, name, timeout=5.0):
        """A server someone else runs (``jackd -n NAME`` or the default ``default``): never
        started or stopped here; its rate and period are asked from the server.

        Raises
        ------
        JackError
            No server of that name answers within ``timeout`` seconds.
        """
        jack = _quiet_jack()
        server = cls(prefix="unused")
        server.name = name
        server.external = True
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe = jack.Client("rtnote-probe", servername=name, no_start_server=True)
                break
            except jack.JackOpenError:
                if time.monotonic() > deadline:
                    raise JackError(f"no JACK server named {name!r} is running (start one, "
                                    "or leave out --server to let rtnote start its own)") from None
                time.sleep(0.05)
        server.sr, server.period = int(probe.samplerate), int(probe.blocksize)
        probe.close()
        return server

    @property
    def env(self):
        """Environment for a client process of this server."""
        env = dict(os.environ)
        env.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        return env

    def start(self, timeout=10.0):
        """Start jackd and wait until it serves its system ports; returns self.

        Raises
        ------
        JackError
            jackd exited or did not come up within ``timeout`` seconds.
        """
        if self.external:
            return self
        jack = _quiet_jack()
        self.proc = subprocess.Popen(
            ["jackd", "-n", self.name, "--realtime" if self.realtime else "--no-realtime",
             "-d", "dummy", "-r", str(self.sr), "-p", str(self.period)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise JackError(f"jackd exited with status {self.proc.returncode} "
                                f"(-r {self.sr} -p {self.period})")
            try:
                probe = jack.Client("probe", servername=self.name, no_start_server=True)
            except jack.JackOpenError:
                time.sleep(0.01)
                continue
            ok = any(p.name.startswith("system:") for p in probe.get_ports())
            probe.close()
            if ok:
                return self
            time.sleep(0.01)
        self.stop()
        raise JackError(f"jackd did not come up within {timeout:g} s")

    def stop(self):
        """SIGTERM the server this object started (never an external one)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class JackClient:
    """A JACK client with an audio output (a player) and a MIDI input (a receiver).

    ``play(y, delay_s)`` writes ``y`` to the output starting exactly at a JACK frame it
    returns; every MIDI message that arrives is kept as (JACK frame, bytes). Server xruns
    are counted (``xruns``).
    """

    def __init__(self, server, name="rtnote-test"):
        jack = _quiet_jack()
        sys.setswitchinterval(0.001)
        try:
            self.client = jack.Client(name, servername=server.name, no_start_server=True)
        except jack.JackOpenError as exc:
            raise JackError(f"cannot open a client on JACK server {server.name!r}: {exc}") from None
        self.sr = self.client.samplerate
        self.period = self.client.blocksize
        self.out = self.client.outports.register("out")
        self.midi_in = self.client.midi_inports.register("midi_in")
        self.midi = []  # (frame, bytes)
        self.xruns = 0
        self._y = np.zeros(0, dtype=np.float32)
        self._at = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay_us):
        self.xruns += 1

    def _process(self, frames):
        now = self.client.last_frame_time
        for offset, data in self.midi_in.incoming_midi_events():
            self.midi.append((now + offset, bytes(data)))
        buf = self.out.get_array()
        buf.fill(0.0)
        a = now - self._at
        y = self._y
        if a + frames > 0 and a < len(y):
            lo, hi = max(0, a), min(len(y), a + frames)
            buf[lo - a: hi - a] = y[lo:hi]

    def play(self, y, delay_s=0.2):
        """Start ``y`` (float32, at the server's rate) ``delay_s`` from now; returns its
        first JACK frame."""
        self._at = 1 << 62
        self._y = np.asarray(y, dtype=np.float32)
        at = self.client.frame_time + int(delay_s * self.sr)
        self._at = at
        return at

    def played_until(self):
        """JACK frame just after the last sample of what is playing."""
        return self._at + len(self._y)

    def wait_frame(self, frame, timeout):
        """Sleep until JACK frame ``frame``, or ``timeout`` seconds. Wakes rarely: each
        wake-up takes the GIL the process callback needs (a dropped cycle if this thread
        is preempted while holding it)."""
        deadline = time.monotonic() + timeout
        while True:
            left_s = min((frame - self.client.frame_time) / self.sr, deadline - time.monotonic())
            if left_s <= 0:
                return
            time.sleep(min(1.0, max(0.005, left_s)))

    def connect_rtnote(self, audio_client="rtnote-in", midi_port=None, timeout=10.0):
        """Feed rtnote's input from this player (only), and its MIDI into this receiver."""
        deadline = time.monotonic() + timeout
        target = f"{audio_client}:in_0"
        while True:
            names = [p.name for p in self.client.get_ports()]
            if target in names and (midi_port is None or midi_port in names):
                break
            if time.monotonic() > deadline:
                raise JackError(f"rtnote's ports did not appear: {names}")
            time.sleep(0.02)
        for port in self.client.get_all_connections(target):
            self.client.disconnect(port, target)
        self.client.connect(self.out, target)
        if midi_port is not None:
            self.client.connect(midi_port, self.midi_in)

    def note_messages(self):
        """[(frame, kind, channel, note, velocity)] of note_on/note_off received
        (a note_on with velocity 0 counts as note_off)."""
        out = []
        for frame, data in list(self.midi):
            status = data[0] & 0xF0
            if status in (0x80, 0x90) and len(data) == 3:
                kind = "on" if status == 0x90 and data[2] > 0 else "off"
                out.append((frame, kind, data[0] & 0x0F, data[1], data[2]))
        return out

    def close(self):
        """Deactivate and close the client (idempotent)."""
        if not getattr(self, "_closed", False):
            self._closed = True
            self.client.deactivate()
            self.client.close()


class Rtnote:
    """``rtnote ARGS`` as a subprocess on ``server`` (or ``python -c CODE ...`` / ``python -m
    MODULE ...`` when ARGS starts with '-c' / '-m'); stdout and stderr collected by threads.

    Parameters
    ----------
    ready : str or None
        Wait until a stderr line starts with this (None: do not wait).
    timeout : float > 0 [seconds]
        How long to wait for ``ready``.
    """

    def __init__(self, args, server, ready="rtnote: listening", timeout=30.0):
        cmd = list(args) if args[0] in ("-c", "-m") else ["-m", "rtnote", *args]
        self.proc = subprocess.Popen(
            [sys.executable, *cmd], env=server.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        self.stdout = ""
        self._ready = threading.Event()
        self._err_thread = threading.Thread(target=self._read_err, args=(ready,), daemon=True)
        self._err_thread.start()
        self._out_thread = threading.Thread(target=self._read_out, daemon=True)
        self._out_thread.start()
        if ready and not self._ready.wait(timeout):
            self.proc.kill()
            self.proc.wait()
            raise JackError("rtnote did not start: " + "".join(self.stderr_lines))

    def _read_err(self, ready):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            if ready and line.startswith(ready):
                self._ready.set()
        self._ready.set()

    def _read_out(self):
        self.stdout = self.proc.stdout.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        """Exit code (kills it and fails the wait after ``timeout``)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("rtnote did not exit within "
                                 f"{timeout} s; stderr: {''.join(self.stderr_lines)}")
        self._err_thread.join(5)
        self._out_thread.join(5)
        return code

    @property
    def stderr(self):
        return "".join(self.stderr_lines)
