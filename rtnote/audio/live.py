"""Live input: a sounddevice (PortAudio) input stream whose callback only copies into the
ring buffer.

The stream runs in a capture process of its own (rtnote.audio.capture): its callback
mixes each block to mono into a buffer allocated up front, writes it into the ring buffer
in shared memory (which drops and counts when full) and counts the stream's status flags.
It never blocks, logs or allocates arrays, and never waits for the analyzer's GIL.
:class:`LiveSource` is its face in rtnote's process. Device listing and choice are here too.

sounddevice is imported lazily: without PortAudio the file commands still work and the live
commands say what to install.
"""

import ctypes
import ctypes.util
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from rtnote import interrupts
from rtnote.audio import capture
from rtnote.audio.jacklog import quiet_libjack
from rtnote.audio.ringbuffer import RingBuffer
from rtnote.errors import ConfigError, DeviceError

PORTAUDIO_HINT = ("PortAudio is not installed: apt-get install libportaudio2 (macOS: brew "
                  "install portaudio); rtnote transcribe works without it")

#: JACK client name of the input (PaJack_SetClientName keeps the pointer: keep it alive).
_jack_name = None


def import_sounddevice(jack_name="rtnote-in"):
    """Import sounddevice (initialises PortAudio), naming its JACK client ``jack_name``.

    Parameters
    ----------
    jack_name : str
        Client name PortAudio uses on a JACK server (only before the first import).

    Raises
    ------
    DeviceError
        PortAudio (libportaudio2) or sounddevice is missing.
    """
    global _jack_name
    if "sounddevice" not in sys.modules and _jack_name is None and jack_name:
        _jack_name = jack_name.encode()
        path = ctypes.util.find_library("portaudio")
        if path:
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL).PaJack_SetClientName(_jack_name)
            except (OSError, AttributeError):
                pass  # no JACK support in this PortAudio: nothing to name
    quiet_libjack()
    try:
        with interrupts.held():  # Pa_Initialize connects to JACK: a signal must not break it
            import sounddevice
    except (OSError, ImportError) as exc:
        raise DeviceError(f"{PORTAUDIO_HINT} ({exc})") from None
    quiet_libjack()
    return sounddevice


def hostapi_name(sd, device):
    return sd.query_hostapis(device["hostapi"])["name"]


def input_devices(host_api=None):
    """Input devices as dicts: index, name, hostapi, channels, default_samplerate [Hz],
    default (bool)."""
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from None
    out = []
    for device in devices:
        if device["max_input_channels"] < 1:
            continue
        api = hostapi_name(sd, device)
        if host_api and host_api.lower() not in api.lower():
            continue
        out.append({"index": device["index"], "name": device["name"], "hostapi": api,
                    "channels": device["max_input_channels"],
                    "default_samplerate": device["default_samplerate"],
                    "default": device["index"] == default_in})
    return out


def choose_input(device=None, host_api=None):
    """Pick the input device: by index, by (part of its) name, or automatically.

    Parameters
    ----------
    device : int, str or None
        Index (an int or a string of digits), or part of the name. None: the system's
        default input, else the first input that can be opened.
    host_api : str or None
        Only devices of the host API whose name contains this (case-insensitive), e.g.
        'jack', 'alsa', 'pulse', 'core', 'wasapi'.

    Returns
    -------
    index : int
    why : str
        How it was chosen, for the user.

    Raises
    ------
    DeviceError
        No such device, several match, or no input at all.
    """
    sd = import_sounddevice()
    inputs = input_devices(host_api)
    where = f" of host API {host_api!r}" if host_api else ""
    if device is not None and str(device).strip().lstrip("-").isdigit():
        index = int(device)
        for d in inputs:
            if d["index"] == index:
                return index, "chosen by index"
        raise DeviceError(f"no input device {index}{where} (list them: rtnote devices)")
    if device is not None:
        matches = [d for d in inputs if str(device).lower() in d["name"].lower()]
        if len(matches) == 1:
            return matches[0]["index"], "chosen by name"
        if not matches:
            raise DeviceError(f"no input device matches {device!r}{where} "
                              "(list them: rtnote devices)")
        names = ", ".join(f"{d['index']}: {d['name']}" for d in matches)
        raise DeviceError(f"several input devices match {device!r}: {names}; give an index")
    if not inputs:
        raise DeviceError(f"no audio input device{where} found: connect a microphone or start "
                          "an audio server (JACK, PulseAudio, PipeWire); rtnote demo works "
                          "without one")
    for d in inputs:
        if d["default"]:
            return d["index"], "the default input"
    for d in inputs:
        try:
            sd.check_input_settings(device=d["index"], channels=1, dtype="float32")
        except Exception:  # noqa: BLE001 - PortAudio raises various errors: try the next
            continue
        return d["index"], "the first input that works (no default input)"
    raise DeviceError(f"no input device{where} can be opened (list them: rtnote devices)")


class LiveSource:
    """Audio from an input device, mono float32 into the ring buffer.

    The stream and its callback run in a capture process of their own
    (:mod:`rtnote.audio.capture`), which writes into a ring buffer in shared memory: the
    callback never waits for the GIL the analyzer's worker holds. A watchdog thread here
    notices a stream that stopped by itself (device unplugged, JACK server gone) or
    stalled, and ends the source with a DeviceError so the engine ends its notes and the
    command exits with one clear line.

    Parameters
    ----------
    device : int, str or None
        See :func:`choose_input`.
    samplerate : int > 0 or None [Hz]
        Default: the device's own rate (a JACK server's rate).
    blocksize : int >= 0 [samples]
        Frames per callback; 0 lets the host choose (one JACK period), which is lowest.
    channels : int >= 1
        Input channels opened; they are mixed to mono.
    host_api : str or None
        See :func:`choose_input`.
    stall_s : float > 0 [seconds]
        A started stream with no callback for this long has stalled: the source ends.
    jack_name : str
        Client name of the input on a JACK server.

    Raises
    ------
    ConfigError, DeviceError
        Nonsense settings; no such device, or PortAudio missing.
    """

    MAX_BLOCK = capture.MAX_BLOCK  # largest callback block [frames]
    REPLY_S = 20.0  # longest wait for the capture process to answer [seconds]

    def __init__(self, device=None, samplerate=None, blocksize=0, channels=1, host_api=None,
                 stall_s=2.0, jack_name="rtnote-in"):
        if samplerate is not None and not 1000 <= int(samplerate) <= 768000:
            raise ConfigError(f"--samplerate must be between 1000 and 768000 Hz, not {samplerate}")
        if int(blocksize) < 0 or int(blocksize) > self.MAX_BLOCK:
            raise ConfigError(f"--blocksize must be 0 (host's choice) to {self.MAX_BLOCK} "
                              f"samples, not {blocksize}")
        if int(channels) < 1:
            raise ConfigError(f"--channels must be >= 1, not {channels}")
        self.channels = int(channels)
        self.blocksize = int(blocksize)
        self.stall_s = float(stall_s)
        config = {"device": device, "samplerate": samplerate, "blocksize": self.blocksize,
                  "channels": self.channels, "host_api": host_api, "jack_name": jack_name}
        self._counters = np.zeros(len(capture.COUNTERS))
        # started with SIGINT/SIGTERM/SIGHUP blocked, which it keeps: Ctrl-C at the terminal
        # reaches rtnote, which stops it; it stays in rtnote's process group, so killing the
        # group kills it too
        self._child = None
        try:
            with interrupts.held():
                self._child = subprocess.Popen(
                    [sys.executable, "-m", "rtnote.audio.capture", json.dumps(config)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            chosen = self._reply("device")
        except BaseException:  # Ctrl-C included: the child must not outlive this
            if self._child is not None:
                self._end_child()
            raise
        self.index, self.why = chosen["index"], chosen["why"]
        self.device_name, self.hostapi = chosen["name"], chosen["hostapi"]
        self.sr = chosen["samplerate"]
        self.finished = threading.Event()
        self.error = None
        self._stopping = threading.Event()
        self._watchdog = None

    def _reply(self, key):
        """The capture process's next message, which must hold ``key``; raises its error."""
        if not select.select([self._child.stdout], [], [], self.REPLY_S)[0]:
            raise DeviceError(f"the audio input did not start (no answer in {self.REPLY_S:g} s)")
        line = self._child.stdout.readline()
        try:
            message = json.loads(line)
        except ValueError:
            raise DeviceError("the audio input did not start (its capture process ended)") from None
        if key in message:
            return message[key]
        error = ConfigError if message.get("kind") == "ConfigError" else DeviceError
        raise error(message.get("error", f"unexpected reply from the capture process: {line!r}"))

    def _count(self, name):
        return int(self._counters[capture.COUNTERS.index(name)])

    callbacks = property(lambda self: self._count("callbacks"))
    frames = property(lambda self: self._count("frames"))
    input_overflows = property(lambda self: self._count("input_overflows"),
                               doc="Callbacks flagged input overflow: dropped cycles/xruns.")
    input_underflows = property(lambda self: self._count("input_underflows"))
    ring_overflows = property(lambda self: self._count("ring_overflows"),
                              doc="Blocks the ring buffer had no room for.")
    dropped_cycles = property(lambda self: self._count("input_overflows"),
                              doc="Callbacks flagged with an input overflow (on JACK: server "
                                  "xruns) [count].")

    @property
    def last_callback(self):
        """time.monotonic() of the last callback [seconds]."""
        return float(self._counters[capture.LAST_CALLBACK])

    @property
    def description(self):
        block = f"{self.blocksize} samples" if self.blocksize else "host's block size"
        return (f"input {self.index}: {self.device_name} ({self.hostapi}), {self.sr} Hz, "
                f"{self.channels} ch, {block}; {self.why}")

    def make_ring(self, capacity, max_gaps=1024):
        """The engine's ring buffer, in memory shared with the capture process."""
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self._shared_path = os.path.join(folder, f"rtnote-{os.getpid()}-{id(self):x}")
        size = capture.COUNTERS_BYTES + RingBuffer.nbytes(capacity, max_gaps)
        mapped = capture.map_file(self._shared_path, size)
        self._counters, ring = capture.shared_views(mapped, capacity, max_gaps)
        return ring

    def start(self, ring):
        """Start the stream; raises DeviceError if the device cannot be opened.

        ``ring`` must come from :meth:`make_ring`."""
        try:
            self._child.stdin.write(json.dumps({"start": self._shared_path, "capacity": ring.capacity,
                                                "max_gaps": ring.max_gaps}) + "\n")
            self._child.stdin.flush()
            self._reply("started")
        except BrokenPipeError:
            self._end_child()
            raise DeviceError("the audio input did not start (capture process ended)") from None
        except BaseException:
            self._end_child()
            raise
        finally:
            os.unlink(self._shared_path)  # both sides have it mapped: nothing left behind
        self._started_at = time.monotonic()
        self._watchdog = threading.Thread(target=self._watch, name="rtnote-input-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def _watch(self):
        while not self._stopping.wait(0.1):  # rarely: each wake-up takes the worker's GIL
            if self._child.poll() is not None or self._counters[capture.GONE]:
                self.error = DeviceError(
                    f"audio input stopped: {self.device_name} ({self.hostapi}) went away "
                    f"after {self.frames / self.sr:.1f} s (device unplugged or audio server "
                    "stopped?)")
                break
            if time.monotonic() - max(self.last_callback, self._started_at) > self.stall_s:
                self.error = DeviceError(
                    f"audio input stalled: no audio from {self.device_name} ({self.hostapi}) "
                    f"for {self.stall_s:g} s (audio server frozen or stopped?)")
                break
        self.finished.set()

    def _end_child(self, timeout_s=2.0):
        """Ask the capture process to stop; kill it if it does not within ``timeout_s``."""
        child = self._child
        try:
            child.stdin.close()  # end of input: stop
        except OSError:
            pass
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:  # PortAudio hangs on a frozen server
            child.kill()
            child.wait()
        child.stdout.close()

    def stop(self):
        """Stop the stream and the capture process (idempotent)."""
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join()
        if self._child.returncode is None:
            self._end_child()
        self.finished.set()


def one_line(exc):
    return " ".join(str(exc).split())
