"""Render notes with FluidSynth and the Debian General MIDI soundfonts (DESIGN.md section 6).

Used by the tests, the benchmarks, the demo clip and the training data. Rendering is
deterministic: the same notes give the same samples.
"""

import os
from dataclasses import dataclass

import numpy as np

from rtnote.errors import RtnoteError

#: Debian package and path of each soundfont. Train on the first two, validate on the third.
SOUNDFONTS = {
    "FluidR3_GM": ("fluid-soundfont-gm", "/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "MuseScore_General": ("musescore-general-soundfont", "/usr/share/sounds/sf3/MuseScore_General.sf3"),
    "TimGM6mb": ("timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2"),
}
TRAIN_SOUNDFONTS = ("FluidR3_GM", "MuseScore_General")
VALIDATION_SOUNDFONT = "TimGM6mb"


@dataclass(frozen=True)
class Note:
    """A note to render and its ground truth: MIDI ``pitch``, ``onset_s``/``offset_s`` [s]."""

    pitch: int
    onset_s: float
    offset_s: float
    velocity: int = 100


def soundfont_path(name):
    """Path of a soundfont by name (see SOUNDFONTS) or path; says how to install it if absent."""
    package, path = SOUNDFONTS.get(name, (None, name))
    if not os.path.exists(path):
        hint = f" (install it: apt-get install {package})" if package else ""
        raise RtnoteError(f"soundfont {name} not found at {path}{hint}")
    return path


class Renderer:
    """An in-process FluidSynth with one soundfont loaded.

    Parameters
    ----------
    soundfont : str
        Name from SOUNDFONTS or a path to an .sf2/.sf3 file.
    sr : int > 0
        Sample rate [Hz] (44100 is the banks' natural rate).
    gain : float > 0
        FluidSynth's master gain (its default 0.2 peaks near -25 dBFS).
    """

    def __init__(self, soundfont, sr=44100, gain=0.5):
        try:
            import fluidsynth
        except (ImportError, OSError) as exc:
            raise RtnoteError(
                "FluidSynth is not available: apt-get install libfluidsynth3 && "
                f"pip install pyfluidsynth ({exc})"
            ) from None
        self.sr = int(sr)
        self._synth = fluidsynth.Synth(gain=gain, samplerate=float(self.sr))
        self._sfid = self._synth.sfload(soundfont_path(soundfont))
        if self._sfid < 0:
            raise RtnoteError(f"FluidSynth could not load soundfont {soundfont}")

    def render(self, program, notes, duration_s=None, channel=0):
        """Mono float32 audio of ``notes`` played by GM ``program`` (0-based).

        Parameters
        ----------
        program : int in [0, 127]
        notes : iterable of Note
        duration_s : float or None
            Length [s]; default: last offset + 1 s of release.
        """
        notes = sorted(notes, key=lambda n: n.onset_s)
        if duration_s is None:
            duration_s = max((n.offset_s for n in notes), default=0.0) + 1.0
        total = int(round(duration_s * self.sr))
        synth = self._synth
        synth.program_select(channel, self._sfid, 0, int(program))
        events = [(n.onset_s, 1, n) for n in notes] + [(n.offset_s, 0, n) for n in notes]
        events.sort(key=lambda e: (e[0], e[1]))  # offs before ons at the same time
        out = []
        pos = 0
        for time_s, is_on, note in events:
            at = min(total, int(round(time_s * self.sr)))
            if at > pos:
                out.append(synth.get_samples(at - pos))
                pos = at
            if is_on:
                synth.noteon(channel, note.pitch, note.velocity)
            else:
                synth.noteoff(channel, note.pitch)
        if total > pos:
            out.append(synth.get_samples(total - pos))
        synth.cc(channel, 120, 0)  # all sound off: no tail leaks into the next render
        synth.get_samples(self.sr // 10)
        stereo = np.concatenate(out).astype(np.float32).reshape(-1, 2) if out else np.zeros((0, 2))
        return (stereo.mean(axis=1) / 32768.0).astype(np.float32)

    def close(self):
        self._synth.delete()


def random_melody(rng, low, high, n_notes, tempo_bpm=None, start_s=0.25):
    """A monophonic melody: steps and leaps within [low, high], varied rhythm and velocity.

    Parameters
    ----------
    rng : np.random.Generator
    low, high : int
        Pitch range [MIDI note numbers], inclusive.
    n_notes : int > 0
    tempo_bpm : float or None
        Beats per minute; drawn from 70-160 if None.

    Returns
    -------
    list of Note
    """
    tempo_bpm = tempo_bpm or float(rng.uniform(70, 160))
    beat_s = 60.0 / tempo_bpm
    pitch = int(rng.integers(low, high + 1))
    t = start_s
    notes = []
    for _ in range(n_notes):
        ioi = beat_s * float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        length = ioi * float(rng.uniform(0.55, 0.9))
        notes.append(Note(pitch, t, t + length, int(rng.integers(50, 128))))
        t += ioi
        step = int(rng.choice([-7, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 12, -12]))
        pitch = int(np.clip(pitch + step, low, high))
    return notes


#: The bundled demo clip: (GM program, notes) phrases played one after another.
DEMO_PHRASES = (
    (0, [(60, 0.5), (64, 0.5), (67, 0.5), (72, 1.0)]),  # piano: C major arpeggio
    (73, [(79, 0.5), (77, 0.25), (76, 0.25), (74, 1.0)]),  # flute
    (24, [(52, 0.5), (55, 0.5), (59, 0.5), (64, 1.0)]),  # nylon guitar
    (40, [(69, 0.75), (71, 0.25), (72, 1.0)]),  # violin
    (33, [(36, 0.5), (43, 0.5), (40, 0.5), (36, 1.0)]),  # finger bass
)


def render_demo(soundfont="FluidR3_GM", sr=22050):
    """The demo clip (~14 s, five instruments in turn) and its notes with programs.

    Returns
    -------
    y : np.ndarray [float32], notes : list of (program, Note)
    """
    renderer = Renderer(soundfont, sr=sr)
    pieces, truth, t0 = [], [], 0.0
    for program, phrase in DEMO_PHRASES:
        notes, t = [], 0.3
        for pitch, beats in phrase:
            notes.append(Note(pitch, t, t + beats * 0.5 * 0.85, 96))
            t += beats * 0.5
        y = renderer.render(program, notes, duration_s=t + 0.4)
        pieces.append(y)
        truth += [(program, Note(n.pitch, n.onset_s + t0, n.offset_s + t0, n.velocity)) for n in notes]
        t0 += len(y) / sr
    renderer.close()
    y = np.concatenate(pieces)
    return (0.7 * y / np.abs(y).max()).astype(np.float32), truth
