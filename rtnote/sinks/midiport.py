"""Live MIDI out (mido with the python-rtmidi backend): notes to a DAW as they are decided.

A note_on is sent from the engine's worker the moment the analyzer emits it, with the
note's velocity; its note_off when the note ends. The sink remembers every sounding note, so
``close()`` (always called, also on Ctrl-C, SIGTERM, errors and the end of the stream) ends
each of them and sends "all notes off" (CC 123) on every channel it used: no note stays on.

With ``channel_per_family`` each instrument family gets its own channel (see
rtnote.families.FAMILY_CHANNEL; the drum channel 10 is skipped) and, at start and again
before the first note on each channel (for a DAW that connected later), a program change
to a representative General MIDI program, so a DAW can record one track per family.
A family decided later (family_update) does not move the sounding note; the next note uses
the new channel.
"""

import os
import sys
import threading
import time

from rtnote import interrupts
from rtnote.errors import ConfigError, MidiPortError
from rtnote.events import FamilyUpdate, NoteOff, NoteOn
from rtnote.families import FAMILIES, FAMILY_CHANNEL, REPRESENTATIVE_PROGRAM, UNKNOWN_CHANNEL

#: --midi-api choices -> RtMidi API names (mido backend suffixes).
MIDI_APIS = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE",
             "winmm": "WINDOWS_MM"}

CC_ALL_NOTES_OFF = 123
CC_ALL_SOUND_OFF = 120


def default_midi_api():
    """RtMidi API for this platform: CoreMIDI on macOS, Windows MM on Windows; on Linux ALSA
    where an ALSA sequencer exists, else JACK (a machine with only a JACK server)."""
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform.startswith("win"):
        return "winmm"
    return "alsa" if os.path.exists("/dev/snd/seq") else "jack"


def midi_backend(api=None):
    """The mido backend for an RtMidi API.

    Parameters
    ----------
    api : str or None
        One of MIDI_APIS (case-insensitive); None: :func:`default_midi_api`.

    Raises
    ------
    ConfigError
        Unknown API name.
    MidiPortError
        python-rtmidi is missing or was built without that API.
    """
    name = (api or default_midi_api()).lower()
    if name not in MIDI_APIS:
        raise ConfigError(f"--midi-api must be one of {', '.join(MIDI_APIS)}, not {api!r}")
    try:
        import mido
        import rtmidi
    except ImportError as exc:
        raise MidiPortError(f"MIDI needs python-rtmidi: pip install python-rtmidi ({exc})") from None
    from rtnote.audio.jacklog import quiet_libjack

    quiet_libjack()  # rtnote says what went wrong itself, in one line
    compiled = {rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()}
    rt_name = {"coremidi": "core", "winmm": "winmm"}.get(name, name)
    if rt_name not in compiled:
        raise MidiPortError(f"this python-rtmidi has no {name} MIDI API (it has: "
                            f"{', '.join(sorted(compiled)) or 'none'})")
    return mido.Backend(f"mido.backends.rtmidi/{MIDI_APIS[name]}", load=True), name


def _why(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def list_output_ports(api=None):
    """Names of the MIDI input ports a sink can connect to (rtnote's output targets)."""
    backend, name = midi_backend(api)
    try:
        return backend.get_output_names()
    except Exception as exc:  # noqa: BLE001 - rtmidi raises its own SystemError and others
        raise MidiPortError(f"cannot list {name} MIDI ports: {_why(exc)}") from None


def open_output(virtual_name=None, port=None, api=None, client_name="rtnote"):
    """Open a virtual output port (a DAW connects to it) or connect to an existing port.

    Parameters
    ----------
    virtual_name : str or None
        Name of the virtual port to create.
    port : str or None
        An existing port: its full name or a part of it that matches one port.
    api : str or None
        See :func:`midi_backend`.
    client_name : str
        MIDI client name (on JACK: the client that owns the port, ``rtnote:NAME``).

    Returns
    -------
    port : mido output port
    description : str
    target : str or None
        The existing port's full name (None for a virtual port).

    Raises
    ------
    MidiPortError
        The port cannot be opened; the message says why in one line.
    """
    backend, api_name = midi_backend(api)
    if (virtual_name is None) == (port is None):
        raise ConfigError("give either a virtual port name or an existing port")
    try:
        if virtual_name is not None:
            if not virtual_name.strip():
                raise ConfigError("--midi-out NAME must not be empty")
            with interrupts.held():  # a JACK client is being made: a signal must not break it
                out = backend.open_output(virtual_name, virtual=True, client_name=client_name)
            return out, f"virtual MIDI port {client_name}:{virtual_name} ({api_name})", None
        with interrupts.held():
            names = backend.get_output_names()
        exact = [n for n in names if n == port]
        matches = exact or [n for n in names if port.lower() in n.lower()]
        if len(matches) != 1:
            listing = ", ".join(names) if names else "none"
            what = "no MIDI port matches" if not matches else "several MIDI ports match"
            raise MidiPortError(f"{what} {port!r} ({api_name}; ports: {listing})")
        with interrupts.held():
            out = backend.open_output(matches[0], client_name=client_name)
        return out, f"MIDI port {matches[0]} ({api_name})", matches[0]
    except (MidiPortError, ConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 - rtmidi's SystemError, OSError, ...
        target = virtual_name if virtual_name is not None else port
        raise MidiPortError(f"cannot open {api_name} MIDI port {target!r}: {_why(exc)}") from None


class MidiOutSink:
    """Sends note events to a live MIDI port.

    Parameters
    ----------
    port : mido output port
        Anything with ``send(msg)`` and ``close()``.
    channel_per_family : bool
        One channel per family (FAMILY_CHANNEL), with program changes at start; notes with
        no family go to UNKNOWN_CHANNEL. False: every note on ``channel``.
    pitch_bend : bool
        Send a pitch bend with each note_on carrying its cents offset; reset at note_off.
    bend_range : int in [1, 24] [semitones]
        The receiver's bend range, set at start with RPN 0 (pitch bend sensitivity).
    channel : int in [0, 15]
        Channel (0-based) when not ``channel_per_family``.
    target : str or None
        Name of the existing port ``port`` is connected to (None for a virtual port); see
        :meth:`target_present`.
    """

    def __init__(self, port, channel_per_family=False, pitch_bend=False, bend_range=2,
                 channel=0, target=None):
        import mido

        if not 1 <= int(bend_range) <= 24:
            raise ConfigError(f"--bend-range must be 1 to 24 semitones, not {bend_range}")
        if not 0 <= int(channel) <= 15:
            raise ConfigError(f"MIDI channel must be 0-15, not {channel}")
        self._mido = mido
        self.port = port
        self.channel_per_family = channel_per_family
        self.pitch_bend = pitch_bend
        self.bend_range = int(bend_range)
        self.channel = int(channel)
        self.target = target
        self.sounding = {}  # note_id -> (channel, pitch)
        self.used_channels = set()
        self.sent = 0
        self.notes = 0
        self.error = None
        self._lock = threading.Lock()  # handle() in the worker vs close() in the main thread
        self._closed = False
        self._start()

    def _send(self, kind, **fields):
        self.port.send(self._mido.Message(kind, **fields))
        self.used_channels.add(fields["channel"])
        self.sent += 1

    def _start(self):
        """Program changes (and bend ranges) on every channel, for receivers already
        connected; each channel is set up again before its first note (``_prepare``), for
        a receiver that connected to the virtual port later."""
        if self.channel_per_family:
            for family in FAMILIES:
                self._setup(FAMILY_CHANNEL[family], family)
            self._setup(UNKNOWN_CHANNEL, None)
        else:
            self._setup(self.channel, None)
        self._prepared = set()

    def _setup(self, ch, family):
        if self.channel_per_family and family in REPRESENTATIVE_PROGRAM:
            self._send("program_change", channel=ch, program=REPRESENTATIVE_PROGRAM[family])
        if self.pitch_bend:  # RPN 0 = bend range, then the null RPN
            for control, value in ((101, 0), (100, 0), (6, self.bend_range), (38, 0),
                                   (101, 127), (100, 127)):
                self._send("control_change", channel=ch, control=control, value=value)
            self._send("pitchwheel", channel=ch, pitch=0)

    def _prepare(self, ch, family):
        if ch not in self._prepared:
            self._prepared.add(ch)
            self._setup(ch, family)

    def target_present(self):
        """False when the existing port this sink was connected to has vanished (a virtual
        port has no fixed receiver: always True)."""
        rt = getattr(self.port, "_rt", None)
        if self.target is None or rt is None:
            return True
        try:
            return self.target in rt.get_ports()
        except Exception:  # noqa: BLE001
            return False

    def channel_for(self, family):
        """0-based MIDI channel of a note of ``family`` (None: unknown)."""
        if not self.channel_per_family:
            return self.channel
        return FAMILY_CHANNEL.get(family, UNKNOWN_CHANNEL)

    def bend_value(self, cents):
        """Pitch-wheel value [-8192, 8191] for an offset in cents at this bend range."""
        value = round(cents / (100.0 * self.bend_range) * 8192)
        return int(min(8191, max(-8192, value)))

    def handle(self, event):
        with self._lock:
            if self._closed:
                return
            if isinstance(event, NoteOn):
                replaced = self.sounding.pop(getattr(event, "replaces", None), None)
                if replaced is not None:  # a corrected pitch: the wrong note ends first
                    self._note_off(*replaced)
                ch = self.channel_for(event.family)
                self._prepare(ch, event.family)
                if self.pitch_bend:
                    self._send("pitchwheel", channel=ch, pitch=self.bend_value(event.cents))
                self._send("note_on", channel=ch, note=event.pitch, velocity=event.velocity)
                self.sounding[event.note_id] = (ch, event.pitch)
                self.notes += 1
            elif isinstance(event, NoteOff):
                held = self.sounding.pop(event.note_id, None)
                if held is not None:
                    self._note_off(*held)
            elif isinstance(event, FamilyUpdate):
                pass  # the sounding note stays on its channel; the next note follows

    def _note_off(self, ch, pitch):
        self._send("note_off", channel=ch, note=pitch, velocity=0)
        if self.pitch_bend:
            self._send("pitchwheel", channel=ch, pitch=0)

    def close(self, drain_s=0.05):
        """End every sounding note, "all notes off" on every used channel, close the port.

        Parameters
        ----------
        drain_s : float >= 0 [seconds]
            Wait before closing so the backend delivers the last messages (RtMidi's JACK
            backend sends them in its next cycle).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                for ch, pitch in list(self.sounding.values()):
                    self._note_off(ch, pitch)
                self.sounding.clear()
                for ch in sorted(self.used_channels):
                    self._send("control_change", channel=ch, control=CC_ALL_NOTES_OFF, value=0)
                time.sleep(drain_s)
            except Exception as exc:  # noqa: BLE001 - the port may be gone already
                self.error = MidiPortError(f"MIDI port failed while ending notes: {_why(exc)}")
            finally:
                try:
                    self.port.close()
                except Exception:  # noqa: BLE001
                    pass
