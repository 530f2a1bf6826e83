"""Note events (DESIGN.md section 4), the one currency between the analyzer and the sinks.

Every event carries ``onset_sample``, ``decision_sample`` and ``sr``, so latency can be
recomputed from the events alone: ``(decision_sample - onset_sample) / sr`` seconds.
Sample counts are counted from the start of the input stream. ``decision_sample`` is the
number of input samples the analyzer had consumed when it emitted the event.
The JSON schema lives in ``rtnote/schema/events.schema.json``.
"""

import json
import math
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Optional

A4_HZ = 440.0


@dataclass(frozen=True)
class NoteOn:
    """A note began at ``onset_sample``; rtnote knew it at ``decision_sample``."""

    note_id: int
    onset_sample: int
    decision_sample: int
    sr: int
    pitch: int  #: MIDI note number
    cents: float  #: deviation from the tempered pitch, in cents
    velocity: int  #: 1-127, from the attack's level
    family: Optional[str] = None
    family_conf: Optional[float] = None
    replaces: Optional[int] = None  #: note_id this note corrects (same onset, better pitch)
    type: str = "note_on"

    @property
    def time(self):
        """Onset time [seconds from stream start]."""
        return self.onset_sample / self.sr


@dataclass(frozen=True)
class NoteOff:
    """The note ``note_id`` ended at ``offset_sample``."""

    note_id: int
    onset_sample: int
    offset_sample: int
    decision_sample: int
    sr: int
    pitch: int
    type: str = "note_off"

    @property
    def time(self):
        """Offset time [seconds from stream start]."""
        return self.offset_sample / self.sr


@dataclass(frozen=True)
class FamilyUpdate:
    """A longer look at note ``note_id`` changed its family decision."""

    note_id: int
    onset_sample: int
    decision_sample: int
    sr: int
    family: str
    family_conf: float
    type: str = "family_update"

    @property
    def time(self):
        """Decision time [seconds from stream start]."""
        return self.decision_sample / self.sr


Event = NoteOn | NoteOff | FamilyUpdate


def event_to_dict(event):
    """JSON-ready dict of an event, ``type`` and ``time`` first, floats rounded."""
    fields = asdict(event)
    out = {"type": fields.pop("type"), "time": round(event.time, 6)}
    for key, value in fields.items():
        out[key] = round(value, 4) if isinstance(value, float) else value
    return out


def event_to_json(event):
    """One JSON line (no newline) for an event."""
    return json.dumps(event_to_dict(event), separators=(",", ":"))


def load_schema():
    """The JSON schema (draft 2020-12) that every event line satisfies."""
    text = resources.files("rtnote.schema").joinpath("events.schema.json").read_text()
    return json.loads(text)


def midi_to_hz(pitch, a4_hz=A4_HZ):
    """Frequency [Hz] of a (fractional) MIDI note number."""
    return a4_hz * 2.0 ** ((pitch - 69) / 12.0)


def hz_to_midi(f0_hz, a4_hz=A4_HZ):
    """Fractional MIDI note number of a frequency [Hz]."""
    return 69.0 + 12.0 * math.log2(f0_hz / a4_hz)


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch):
    """Scientific pitch name of a MIDI note number, e.g. 60 -> 'C4'."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"
