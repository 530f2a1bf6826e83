"""Workloads for ``rtnote bench``: audio whose note onsets are known to the sample.

A :class:`Workload` is mono float32 audio, its rate and its reference notes, each with the
sample where it truly begins. Three kinds:

- :func:`rendered` -- monophonic melodies rendered with FluidSynth (default: the validation
  soundfont, TimGM6mb), voices chosen to cover the registers from E1 up. The renderer starts
  each note at ``round(onset_s * sr)``.
- :func:`click_track` -- tone clicks synthesized here: each starts exactly at its onset
  sample, from digital silence. The bench's own arithmetic is tested on it.
- :func:`from_files` -- a user's audio file plus a MIDI file or a CSV of its onsets.
"""

import csv
import os
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from rtnote.errors import AudioFileError, ConfigError, RtnoteError

#: (GM program, lowest, highest MIDI note) of the melodies, in turn: bass first, so that even
#: a short run has notes in every register (E1-E2, E2-C4, C4 and up).
VOICES = (
    (33, 28, 52),  # electric bass (finger)
    (0, 36, 84),  # acoustic grand piano
    (42, 36, 67),  # cello
    (73, 60, 96),  # flute
    (32, 28, 55),  # acoustic bass
    (24, 40, 76),  # nylon guitar
    (65, 49, 81),  # alto sax
    (56, 54, 86),  # trumpet
    (40, 55, 100),  # violin
    (71, 50, 91),  # clarinet
    (11, 53, 89),  # vibraphone
    (80, 36, 96),  # square lead
)


@dataclass(frozen=True)
class RefNote:
    """A reference note.

    onset_sample, offset_sample : int >= 0 [samples]
        Where the note truly begins and ends, counted from the first sample of the audio.
    pitch : int in [0, 127] or None
        MIDI note number; None when only the onset is known.
    program : int or None
        GM program it was rendered with (rendered workloads).
    """

    onset_sample: int
    offset_sample: int
    pitch: Optional[int] = None
    program: Optional[int] = None


@dataclass
class Workload:
    """Audio with known notes.

    name : str
        What it is, for reports.
    y : np.ndarray [shape=(n,), float32]
        Mono audio.
    sr : int > 0 [Hz]
    notes : list of RefNote
        In onset order.
    """

    name: str
    y: np.ndarray
    sr: int
    notes: list

    @property
    def duration_s(self):
        """Length of the audio [seconds]."""
        return len(self.y) / self.sr

    @property
    def has_pitch(self):
        """True when every reference note has a pitch (else matching is by onset only)."""
        return all(n.pitch is not None for n in self.notes)

    def write(self, path):
        """Write the audio as a 32-bit float WAV (bit-exact)."""
        import soundfile

        soundfile.write(os.fspath(path), self.y, self.sr, subtype="FLOAT")

    def resampled(self, sr):
        """The same workload at another rate [Hz]; onsets are rescaled and rounded."""
        sr = int(sr)
        if sr == self.sr:
            return self
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sr, self.sr)
        y = resample_poly(self.y, sr // g, self.sr // g).astype(np.float32)
        scale = sr / self.sr
        notes = [replace(n, onset_sample=int(round(n.onset_sample * scale)),
                         offset_sample=int(round(n.offset_sample * scale))) for n in self.notes]
        return Workload(f"{self.name}, resampled to {sr} Hz", y, sr, notes)


def rendered(n_melodies=6, notes_per_melody=12, soundfont=None, sr=44100, seed=0,
             peak=0.5, gap_s=0.5):
    """Melodies rendered with FluidSynth, one voice of :data:`VOICES` each, back to back.

    Parameters
    ----------
    n_melodies : int > 0
    notes_per_melody : int > 0
    soundfont : str or None
        Name or path (see rtnote.synth.SOUNDFONTS); default: the validation soundfont.
    sr : int > 0 [Hz]
    seed : int
        Seeds the melodies (same seed, same audio).
    peak : float in (0, 1]
        Each melody is scaled to this peak [linear full scale].
    gap_s : float >= 0 [seconds]
        Silence between melodies (after each render's own 1 s of release).

    Returns
    -------
    Workload

    Raises
    ------
    ConfigError
        Counts below 1.
    rtnote.errors.RtnoteError
        FluidSynth or the soundfont is missing.
    """
    from rtnote.synth import VALIDATION_SOUNDFONT, Renderer, random_melody

    if n_melodies < 1 or notes_per_melody < 1:
        raise ConfigError(f"need at least 1 melody of at least 1 note, not {n_melodies} "
                          f"melodies of {notes_per_melody} notes")
    soundfont = soundfont or VALIDATION_SOUNDFONT
    renderer = Renderer(soundfont, sr=sr)
    rng = np.random.default_rng(seed)
    pieces, notes, at = [], [], 0
    try:
        for i in range(n_melodies):
            program, low, high = VOICES[i % len(VOICES)]
            melody = random_melody(rng, low, high, notes_per_melody)
            y = renderer.render(program, melody)
            top = float(np.abs(y).max())
            if top < 1e-4:
                continue  # a silent render (a bank quirk): no notes to measure
            y = np.concatenate((y * (peak / top), np.zeros(int(gap_s * sr)))).astype(np.float32)
            for n in melody:
                notes.append(RefNote(at + int(round(n.onset_s * sr)),
                                     at + int(round(n.offset_s * sr)), n.pitch, program))
            pieces.append(y)
            at += len(y)
    finally:
        renderer.close()
    if not pieces:
        raise RtnoteError(f"every melody rendered from {soundfont} was silent: nothing to measure")
    name = (f"{len(pieces)} melodies x {notes_per_melody} notes rendered from "
            f"{os.path.basename(soundfont)} (seed {seed})")
    return Workload(name, np.concatenate(pieces), int(sr), notes)


def click_track(onsets_s, pitches, sr=44100, length_s=0.15, tail_s=0.5, level=0.5):
    """Tone clicks: a decaying harmonic tone per note, starting exactly at its onset sample
    (``round(onset_s * sr)``) from digital silence.

    Parameters
    ----------
    onsets_s : sequence of float >= 0 [seconds]
    pitches : sequence of int [MIDI note numbers]
    sr : int > 0 [Hz]
    length_s : float > 0 [seconds]
        Length of each click (it must end before the next begins).
    tail_s : float >= 0 [seconds]
        Silence after the last click.
    level : float in (0, 1] [linear full scale]

    Returns
    -------
    Workload
    """
    onsets = [int(round(t * sr)) for t in onsets_s]
    if len(onsets) != len(pitches):
        raise ConfigError(f"{len(onsets)} onsets but {len(pitches)} pitches")
    n = int(length_s * sr)
    if any(b - a < n for a, b in zip(onsets, onsets[1:])):
        raise ConfigError(f"clicks of {length_s * 1e3:g} ms overlap: onsets too close")
    y = np.zeros((onsets[-1] if onsets else 0) + n + int(tail_s * sr), dtype=np.float32)
    t = np.arange(n) / sr
    envelope = np.exp(-t / (length_s / 4)) * np.minimum(1.0, (n - np.arange(n)) / (0.01 * sr))
    notes = []
    for onset, pitch in zip(onsets, pitches):
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
        y[onset:onset + n] = level * 0.6 * envelope * tone
        notes.append(RefNote(onset, onset + n, int(pitch)))
    return Workload(f"{len(notes)} tone clicks", y, int(sr), notes)


def from_files(audio_path, onsets_path):
    """A user's recording and its reference onsets.

    Parameters
    ----------
    audio_path : str
        Any file libsndfile reads; mixed to mono.
    onsets_path : str
        ``.mid``/``.midi``: every note_on with velocity > 0 is a reference note (pitch and
        offset from the file). ``.csv``: one note a row, ``onset_s[,pitch[,offset_s]]``
        (seconds, MIDI note number); a header row and ``#`` comments are allowed. Without
        pitches, notes are matched by onset only.

    Returns
    -------
    Workload

    Raises
    ------
    AudioFileError, ConfigError
        One line that names the file and the problem (missing, unreadable, empty, a bad
        row, onsets past the end of the audio).
    """
    from rtnote.audio.sources import open_audio, to_mono

    if not os.path.exists(onsets_path):
        raise ConfigError(f"{onsets_path}: no such onsets file")
    ext = os.path.splitext(onsets_path)[1].lower()
    if ext not in (".mid", ".midi", ".csv"):
        raise ConfigError(f"{onsets_path}: onsets must be a .mid/.midi or .csv file, not {ext or 'no extension'}")
    with open_audio(audio_path) as f:
        sr = int(f.samplerate)
        y = to_mono(f.read(dtype="float32", always_2d=True))
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    notes_s = _read_midi(onsets_path) if ext in (".mid", ".midi") else _read_csv(onsets_path)
    if not notes_s:
        raise ConfigError(f"{onsets_path}: contains no notes")
    duration = len(y) / sr
    last = max(on for on, _, _ in notes_s)
    if last >= duration:
        raise ConfigError(f"{onsets_path}: onsets and audio do not match: a note starts at "
                          f"{last:.3f} s but {audio_path} lasts {duration:.3f} s")
    notes = [RefNote(int(round(on * sr)), int(round(min(off, duration) * sr)), pitch)
             for on, off, pitch in notes_s]
    name = f"{os.path.basename(audio_path)} with {len(notes)} notes from {os.path.basename(onsets_path)}"
    return Workload(name, y.astype(np.float32), sr, notes)


def _read_midi(path):
    """[(onset_s, offset_s, pitch)] of a MIDI file's notes (all tracks, all channels)."""
    import mido

    try:
        midi = mido.MidiFile(path)
        messages = list(midi)
    except Exception as exc:  # noqa: BLE001 - mido raises OSError, EOFError, ValueError, ...
        raise ConfigError(f"{path}: not a readable MIDI file ({' '.join(str(exc).split()) or type(exc).__name__})") from None
    t, sounding, notes = 0.0, {}, []
    for msg in messages:
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault((msg.channel, msg.note), []).append(len(notes))
            notes.append([t, None, msg.note])
        elif msg.type in ("note_off", "note_on"):
            started = sounding.get((msg.channel, msg.note))
            if started:
                notes[started.pop(0)][1] = t
    for note in notes:
        if note[1] is None:
            note[1] = t
        note[1] = max(note[1], note[0] + 0.001)
    return sorted((on, off, pitch) for on, off, pitch in notes)


def _read_csv(path):
    """[(onset_s, offset_s, pitch or None)] of a CSV of onsets."""
    rows = []
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            row = [c.strip() for c in row]
            if not row or not row[0] or row[0].startswith("#"):
                continue
            try:
                values = [float(c) for c in row if c != ""]
            except ValueError:
                if not rows and number == 1:
                    continue  # a header
                raise ConfigError(f"{path}, line {number}: not a number in {','.join(row)!r} "
                                  "(expected onset_s[,pitch[,offset_s]])") from None
            rows.append((number, values))
    widths = {len(v) for _, v in rows}
    if len(widths) > 1:
        number, values = next((n, v) for n, v in rows if len(v) != len(rows[0][1]))
        raise ConfigError(f"{path}, line {number}: {len(values)} columns, but line "
                          f"{rows[0][0]} has {len(rows[0][1])} (every row needs the same)")
    if widths and max(widths) > 3:
        raise ConfigError(f"{path}: {max(widths)} columns; expected onset_s[,pitch[,offset_s]]")
    notes = []
    onsets = sorted(v[0] for _, v in rows)
    for number, values in rows:
        onset = values[0]
        if not np.isfinite(onset) or onset < 0:
            raise ConfigError(f"{path}, line {number}: onset must be >= 0 seconds, not {values[0]}")
        pitch = None
        if len(values) >= 2:
            if values[1] != int(values[1]) or not 0 <= values[1] <= 127:
                raise ConfigError(f"{path}, line {number}: pitch must be a MIDI note number "
                                  f"0-127, not {values[1]:g}")
            pitch = int(values[1])
        if len(values) == 3:
            offset = values[2]
            if not offset > onset:
                raise ConfigError(f"{path}, line {number}: offset {offset:g} s is not after "
                                  f"the onset {onset:g} s")
        else:
            later = [t for t in onsets if t > onset]
            offset = min(later[0] if later else onset + 0.5, onset + 0.5)
        notes.append((onset, offset, pitch))
    return sorted(notes, key=lambda n: n[0])


def check_paths(audio_path, onsets_path):
    """One clear error when the pair of paths is incomplete or a file is missing."""
    if (audio_path is None) != (onsets_path is None):
        given, missing = ("--audio", "--onsets") if audio_path else ("--onsets", "--audio")
        raise ConfigError(f"{given} needs {missing}: the bench must know where each note truly begins")
    if audio_path is not None and not os.path.exists(audio_path):
        raise AudioFileError(f"{audio_path}: no such file")
