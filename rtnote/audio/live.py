"""Live input: a sounddevice (PortAudio) input stream whose callback only copies into the
ring buffer.

The callback mixes the block to mono into a buffer allocated up front, writes it into the
ring buffer (which drops and counts when full) and counts the stream's status flags. It
never blocks, logs or allocates arrays. A watchdog thread notices a stream that stopped by
itself (device unplugged, JACK server gone) or stalled, and ends the source with a
DeviceError so the engine ends its notes and the command exits with one clear line.

sounddevice is imported lazily: without PortAudio the file commands still work and the live
commands say what to install.
"""

import atexit
import ctypes
import ctypes.util
import sys
import threading
import time

import numpy as np

from rtnote.audio.jacklog import quiet_libjack, signals_held
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
        with signals_held():  # Pa_Initialize connects to JACK: a signal must not break it
            import sounddevice
    except (OSError, ImportError) as exc:
        raise DeviceError(f"{PORTAUDIO_HINT} ({exc})") from None
    quiet_libjack()
    return sounddevice


def _hostapi_name(sd, device):
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
        api = _hostapi_name(sd, device)
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
    """

    MAX_BLOCK = 1 << 16  # largest callback block mixed without allocating [frames]

    def __init__(self, device=None, samplerate=None, blocksize=0, channels=1, host_api=None,
                 stall_s=2.0):
        if samplerate is not None and not 1000 <= int(samplerate) <= 768000:
            raise ConfigError(f"--samplerate must be between 1000 and 768000 Hz, not {samplerate}")
        if int(blocksize) < 0 or int(blocksize) > self.MAX_BLOCK:
            raise ConfigError(f"--blocksize must be 0 (host's choice) to {self.MAX_BLOCK} "
                              f"samples, not {blocksize}")
        if int(channels) < 1:
            raise ConfigError(f"--channels must be >= 1, not {channels}")
        sd = import_sounddevice()
        self._sd = sd
        self.index, self.why = choose_input(device, host_api)
        info = sd.query_devices(self.index)
        self.device_name = info["name"]
        self.hostapi = _hostapi_name(sd, info)
        if channels > info["max_input_channels"]:
            raise ConfigError(f"--channels {channels}: {self.device_name} has only "
                              f"{info['max_input_channels']} input channels")
        self.channels = int(channels)
        self.sr = int(samplerate or round(info["default_samplerate"]))
        self.blocksize = int(blocksize)
        self.stall_s = float(stall_s)
        # counters, written by the callback only
        self.callbacks = 0
        self.frames = 0
        self.input_overflows = 0  # callbacks flagged input overflow: dropped cycles / xruns
        self.input_underflows = 0
        self.ring_overflows = 0  # blocks the ring buffer had no room for
        self.last_callback = 0.0  # time.monotonic() of the last callback
        self.finished = threading.Event()
        self.error = None
        self._mix = np.zeros(self.MAX_BLOCK, dtype=np.float32)
        self._stream = None
        self._ring = None
        self._stopping = False
        self._vanished = False
        self._watchdog = None

    @property
    def description(self):
        block = f"{self.blocksize} samples" if self.blocksize else "host's block size"
        return (f"input {self.index}: {self.device_name} ({self.hostapi}), {self.sr} Hz, "
                f"{self.channels} ch, {block}; {self.why}")

    @property
    def dropped_cycles(self):
        """Callbacks flagged with an input overflow (on JACK: server xruns) [count]."""
        return self.input_overflows

    def _callback(self, indata, frames, time_info, status):
        # real-time thread: copy, count, return
        self.callbacks += 1
        self.frames += frames
        self.last_callback = time.monotonic()
        if status:
            if status.input_overflow:
                self.input_overflows += 1
            if status.input_underflow:
                self.input_underflows += 1
        if self.channels == 1:
            block = indata[:, 0]
        elif frames <= self.MAX_BLOCK:
            block = np.mean(indata, axis=1, out=self._mix[:frames])
        else:
            block = indata.mean(axis=1, dtype=np.float32)
        if not self._ring.write(block):
            self.ring_overflows += 1

    def start(self, ring):
        """Open and start the stream; raises DeviceError if the device cannot be opened."""
        sd = self._sd
        self._ring = ring
        # The callback (a Python function) needs the GIL every period (5.3 ms at 256 frames,
        # 48 kHz): hand the GIL over often (Python's default, 5 ms, dropped cycles; 1 ms
        # still some under load; 0.2 ms none in the soak benchmark).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0002))
        try:
            with signals_held():  # a signal inside Pa_StartStream fails it (host error)
                self._stream = sd.InputStream(device=self.index, samplerate=self.sr,
                                              blocksize=self.blocksize, channels=self.channels,
                                              dtype="float32", callback=self._callback)
                self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise DeviceError(f"cannot open input {self.index} ({self.device_name}, "
                              f"{self.hostapi}) at {self.sr} Hz: {_one_line(exc)}") from None
        self.last_callback = time.monotonic()
        self._watchdog = threading.Thread(target=self._watch, name="rtnote-input-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def _watch(self):
        stream = self._stream
        while not self._stopping:
            time.sleep(0.02)
            if self._stopping:
                break
            if not stream.active:
                self._vanished = True
                self.error = DeviceError(
                    f"audio input stopped: {self.device_name} ({self.hostapi}) went away "
                    f"after {self.frames / self.sr:.1f} s (device unplugged or audio server "
                    "stopped?)")
                break
            if time.monotonic() - self.last_callback > self.stall_s:
                self._vanished = True
                self.error = DeviceError(
                    f"audio input stalled: no audio from {self.device_name} ({self.hostapi}) "
                    f"for {self.stall_s:g} s (audio server frozen or stopped?)")
                break
        self.finished.set()

    def stop(self):
        """Stop and close the stream (idempotent). A stream whose server vanished is left
        alone: PortAudio would wait for it forever, and would abort the process at exit."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.join()
        stream, self._stream = self._stream, None
        if stream is not None and not self._vanished:
            try:
                stream.stop()
                stream.close()
            except self._sd.PortAudioError:
                pass
        if self._vanished:
            _skip_portaudio_terminate(self._sd)
        self.finished.set()


def _skip_portaudio_terminate(sd):
    """Do not call Pa_Terminate at exit: with the server gone it asserts and aborts."""
    handler = getattr(sd, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)


def _one_line(exc):
    return " ".join(str(exc).split())
