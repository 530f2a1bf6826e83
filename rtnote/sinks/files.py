"""File sinks: JSON lines and standard MIDI files, written atomically (temp file + rename),
so an interrupted run never leaves a half-written file."""

import contextlib
import os
import tempfile

import mido
import numpy as np

from rtnote.errors import OutputError
from rtnote.events import FamilyUpdate, NoteOff, NoteOn, event_to_json
from rtnote.families import FAMILIES, FAMILY_CHANNEL, REPRESENTATIVE_PROGRAM, UNKNOWN_CHANNEL


def _umask():
    """The process's file-creation mask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds.

    Raises
    ------
    rtnote.errors.OutputError
        The folder is missing or not writable, ``path`` is a folder, the disk is full...
        (one line; the temp file is removed and ``path`` is left as it was).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a folder")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".rtnote-", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # as a file opened normally (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


class EventList:
    """Keeps every event in a list (for tests and the library API)."""

    def __init__(self):
        self.events = []

    def handle(self, event):
        self.events.append(event)

    def close(self):
        pass


class JsonLinesSink(EventList):
    """Writes one JSON object per event line (schema: rtnote/schema/events.schema.json)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def close(self):
        with atomic_write(self.path) as f:
            for event in self.events:
                f.write(event_to_json(event) + "\n")


def notes_with_family(events):
    """[(note_on, note_off or None, final family)] in onset order; notes replaced by a
    correction (a later note_on's ``replaces``) are left out."""
    ons, offs, family, replaced = {}, {}, {}, set()
    for e in events:
        if isinstance(e, NoteOn):
            ons[e.note_id] = e
            family[e.note_id] = e.family
            replaced.add(e.replaces)
        elif isinstance(e, NoteOff):
            offs[e.note_id] = e
        elif isinstance(e, FamilyUpdate):
            family[e.note_id] = e.family
    return sorted(((on, offs.get(i), family[i]) for i, on in ons.items() if i not in replaced),
                  key=lambda n: n[0].onset_sample)


class MidiFileSink(EventList):
    """A standard MIDI file (type 1): one track per instrument family, notes at their onset
    times, each family on its own channel with a representative program. A note corrected
    by a later one (``replaces``) appears once, with the corrected pitch.

    Parameters
    ----------
    path : str or path-like
    ticks_per_beat : int
        At the fixed tempo of 120 bpm, one tick is 1 / (2 * ticks_per_beat) seconds.
    """

    TEMPO = 500000  # microseconds per beat (120 bpm)

    def __init__(self, path, ticks_per_beat=960):
        super().__init__()
        self.path = path
        self.ticks_per_beat = ticks_per_beat

    def _ticks(self, seconds):
        return int(round(mido.second2tick(seconds, self.ticks_per_beat, self.TEMPO)))

    def to_midifile(self):
        mid = mido.MidiFile(type=1, ticks_per_beat=self.ticks_per_beat)
        meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=self.TEMPO, time=0)])
        mid.tracks.append(meta)
        by_track = {}
        for on, off, family in notes_with_family(self.events):
            end_s = off.time if off is not None else on.time + 0.25
            by_track.setdefault(family, []).append((on.time, end_s, on.pitch, on.velocity))
        order = [f for f in FAMILIES if f in by_track] + ([None] if None in by_track else [])
        for family in order:
            channel = FAMILY_CHANNEL.get(family, UNKNOWN_CHANNEL)
            track = mido.MidiTrack([mido.MetaMessage("track_name", name=family or "notes", time=0)])
            if family is not None:
                track.append(mido.Message("program_change", channel=channel,
                                          program=REPRESENTATIVE_PROGRAM[family], time=0))
            messages = []
            for onset_s, offset_s, pitch, velocity in by_track[family]:
                messages.append((self._ticks(onset_s), 1, pitch, velocity))
                messages.append((self._ticks(offset_s), 0, pitch, 0))
            messages.sort(key=lambda m: (m[0], m[1]))  # note_off before note_on at a tick
            now = 0
            for tick, is_on, pitch, velocity in messages:
                kind = "note_on" if is_on else "note_off"
                track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity,
                                          time=tick - now))
                now = tick
            mid.tracks.append(track)
        return mid

    def close(self):
        mid = self.to_midifile()
        with atomic_write(self.path, "wb") as f:
            mid.save(file=f)


class AudioRecorder:
    """Writes the audio the analyzer heard (mono, at the stream's rate) as it goes, into a
    temp file renamed over ``path`` at :meth:`close`: the recording of a run, kept also
    when the run ends on an error or Ctrl-C. Audio lost to overflows or dropped cycles is
    written as silence, so a sample's position in the file is its position in the events.

    Parameters
    ----------
    path : str or path-like
        .wav (32-bit float) or .flac (24-bit), by its extension.
    sr : int [Hz]
    """

    def __init__(self, path, sr):
        import soundfile

        self.path = os.fspath(path)
        kind = os.path.splitext(self.path)[1].lower()
        if kind not in (".wav", ".flac"):
            raise OutputError(f"cannot record to {path}: give a .wav or .flac file")
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=".rtnote-", suffix=".part", dir=folder)
            os.close(fd)
            self._file = soundfile.SoundFile(
                self._tmp, "w", samplerate=int(sr), channels=1,
                format=kind[1:].upper(), subtype="FLOAT" if kind == ".wav" else "PCM_24")
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"cannot record to {path}: {exc}") from None

    def write(self, samples):
        """Append float32 samples in [-1, 1]."""
        try:
            self._file.write(samples)
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"cannot record to {self.path}: {exc}") from None

    def skip(self, n_samples):
        """Append ``n_samples`` of silence (audio that never reached the analyzer)."""
        while n_samples > 0:
            n = min(n_samples, 1 << 16)
            self.write(np.zeros(n, dtype=np.float32))
            n_samples -= n

    def close(self):
        """Finish the file and rename it into place (idempotent)."""
        if self._file.closed:
            return
        try:
            self._file.close()
            os.chmod(self._tmp, 0o666 & ~_umask())
            os.replace(self._tmp, self.path)
        except (OSError, RuntimeError) as exc:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            raise OutputError(f"cannot record to {self.path}: {exc}") from None
