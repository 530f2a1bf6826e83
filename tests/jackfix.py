"""A real JACK server (dummy driver) for the live and MIDI tests, and a test client that
plays audio into rtnote and receives its MIDI, both on JACK's frame clock.

See ../shared/JACK.md (the project's docs/ copy: JACK notes): a private server per test
session, clients told not to start one, PortAudio initialised only in the rtnote
subprocesses (after the server is up).
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np

SR = 48000
PERIOD = 256


def jack_available():
    """None when jackd and JACK-Client are usable, else the reason."""
    import shutil

    if shutil.which("jackd") is None:
        return "jackd is not installed (apt-get install jackd2)"
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"JACK-Client is not usable: {exc}"
    return None


class JackServer:
    """jackd with the dummy driver under a unique name; stop() is idempotent."""

    def __init__(self, sr=SR, period=PERIOD):
        self.name = f"rtnote-test-{os.getpid()}-{random.randrange(1 << 30)}"
        self.sr = sr
        self.period = period
        self.proc = None

    @property
    def env(self):
        env = dict(os.environ)
        env.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        return env

    def start(self, timeout=10.0):
        import jack

        self.proc = subprocess.Popen(
            ["jackd", "-n", self.name, "--no-realtime", "-d", "dummy", "-r", str(self.sr),
             "-p", str(self.period)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        jack.set_error_function(lambda msg: None)
        jack.set_info_function(lambda msg: None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jackd exited with {self.proc.returncode}")
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
        raise RuntimeError("jackd did not come up within 10 s")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class JackClient:
    """A JACK client with an audio output (a player) and a MIDI input (a receiver).

    ``play(y, at_frame)`` writes ``y`` to the output starting exactly at JACK frame
    ``at_frame``; every MIDI message that arrives is kept as (JACK frame, bytes).
    """

    def __init__(self, server, name="rtnote-test"):
        import jack

        sys.setswitchinterval(0.001)
        self.client = jack.Client(name, servername=server.name, no_start_server=True)
        self.sr = self.client.samplerate
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
        deadline = time.monotonic() + timeout
        while self.client.frame_time < frame and time.monotonic() < deadline:
            time.sleep(0.01)

    def connect_rtnote(self, audio_client="rtnote-in", midi_port=None, timeout=10.0):
        """Feed rtnote's input from this player (only), and its MIDI into this receiver."""
        deadline = time.monotonic() + timeout
        target = f"{audio_client}:in_0"
        while True:
            names = [p.name for p in self.client.get_ports()]
            if target in names and (midi_port is None or midi_port in names):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"rtnote's ports did not appear: {names}")
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
        if not getattr(self, "_closed", False):
            self._closed = True
            self.client.deactivate()
            self.client.close()


class Rtnote:
    """``rtnote ARGS`` (or ``python -c CODE`` when ARGS starts with '-c') as a subprocess on
    the test server; stdout and stderr collected by threads."""

    def __init__(self, args, server, ready="rtnote: listening", timeout=30.0):
        cmd = list(args) if args[0] == "-c" else ["-m", "rtnote", *args]
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
            raise RuntimeError("rtnote did not start: " + "".join(self.stderr_lines))

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


def melody_at_48k(renderer_factory, program=0, low=55, high=79, n_notes=16, seed=7):
    """A rendered melody (default: 16 piano notes, FluidR3_GM) at the server's rate:
    (audio, notes)."""
    from rtnote.synth import random_melody

    notes = random_melody(np.random.default_rng(seed), low, high, n_notes, tempo_bpm=110)
    y = renderer_factory("FluidR3_GM", sr=SR).render(program, notes)
    return (0.5 * y / np.abs(y).max()).astype(np.float32), notes


class PlayedRun:
    """What one ``rtnote listen`` run made of a melody played through JACK."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def play_through_rtnote(server, y, extra_args=(), tmp_path=None, stop=signal.SIGINT,
                        tail_s=1.0):
    """Run ``rtnote listen --view json --midi-out rtnote`` on ``server``, play ``y`` into it,
    stop it with ``stop`` after ``tail_s`` of silence; return a PlayedRun."""
    import json

    stats = os.path.join(str(tmp_path), f"stats-{random.randrange(1 << 30)}.json")
    args = ["listen", "--view", "json", "--midi-out", "rtnote", "--midi-api", "JACK",
            "--stats", stats, *extra_args]
    if "--model" not in extra_args:
        args += ["--model", "none"]  # families are not what these runs test
    client = JackClient(server)
    try:
        rt = Rtnote(args, server)
        try:
            client.connect_rtnote(midi_port="rtnote:rtnote")
            at = client.play(y)
            client.wait_frame(client.played_until() + int(tail_s * server.sr),
                              timeout=len(y) / server.sr + tail_s + 30)
        finally:
            rt.signal(stop)
            code = rt.wait()
        time.sleep(0.05)
        midi = client.note_messages()
        raw = list(client.midi)
        xruns = client.xruns
    finally:
        client.close()
    from rtnote.events import FamilyUpdate, NoteOff, NoteOn

    kinds = {"note_on": NoteOn, "note_off": NoteOff, "family_update": FamilyUpdate}
    events = []
    for line in rt.stdout.splitlines():
        obj = json.loads(line)
        obj.pop("time")
        events.append(kinds[obj["type"]](**obj))
    with open(stats) as f:
        run_stats = json.load(f)
    return PlayedRun(code=code, stderr=rt.stderr, events=events, midi=midi, raw_midi=raw,
                     start_frame=at, xruns=xruns, stats=run_stats, sr=server.sr)
