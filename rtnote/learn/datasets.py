"""Note data sets behind one interface: NSynth's "jsonwav" folders and NSynth-style notes
rendered from General MIDI soundfonts (DESIGN.md section 6).

A data set is a table of notes (``notes``: one dict per note with ``name``, ``pitch``,
``velocity``, ``family``, ``instrument``, ``source``) and ``audio(i)``: the i-th clip as
float32 mono at ``sr`` (16 kHz, NSynth's rate). Rendered clips are cached as NumPy files
under a cache folder (default ``~/.cache/rtnote``), keyed by every setting that changes them.
"""

import hashlib
import json
import os
from importlib import metadata

import numpy as np

from rtnote.errors import RtnoteError
from rtnote.families import FAMILIES, FAMILY_PROGRAMS, program_range
from rtnote.learn import SR

NSYNTH_URL = "https://magenta.tensorflow.org/datasets/nsynth"
NSYNTH_SPLITS = ("train", "valid", "test")

class RenderSpec:
    """How NSynth-style notes are rendered from a soundfont.

    Parameters
    ----------
    duration_s : float > 0 [seconds]
        Clip length (NSynth: 4 s).
    hold_s : float > 0 [seconds]
        How long the key is held (NSynth: 3 s).
    velocities : tuple of int in [1, 127]
        MIDI velocities; velocity ``j`` takes the pitches ``low + j, low + j + pitch_step, ...``
        of the program's range (``rtnote.families.program_range``), so every pitch is heard.
    pitch_step : int > 0 [semitones]
    render_sr : int > 0 [Hz]
        The banks' natural rate; clips are resampled once to ``rtnote.learn.SR``.
    silence_db : float [dBFS]
        Clips whose peak stays below this are dropped (silent renders).
    """

    VERSION = 1

    def __init__(self, duration_s=4.0, hold_s=3.0, velocities=(40, 70, 100, 127), pitch_step=3,
                 render_sr=44100, silence_db=-50.0):
        self.duration_s = duration_s
        self.hold_s = hold_s
        self.velocities = tuple(velocities)
        self.pitch_step = pitch_step
        self.render_sr = render_sr
        self.silence_db = silence_db

    def as_dict(self):
        return {"version": self.VERSION, "duration_s": self.duration_s, "hold_s": self.hold_s,
                "velocities": list(self.velocities), "pitch_step": self.pitch_step,
                "render_sr": self.render_sr, "sr": SR, "silence_db": self.silence_db}

    def notes_of(self, program):
        """[(pitch, velocity)] rendered for a program, in render order."""
        low, high = program_range(program)
        out = []
        for j, velocity in enumerate(self.velocities):
            out += [(p, velocity) for p in range(low + j % self.pitch_step, high + 1, self.pitch_step)]
        return out


def _library_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def resample(y, sr_in, sr_out=SR):
    """Resample ``y`` [float32] from ``sr_in`` to ``sr_out`` [Hz] (polyphase, cached filter).

    The same routine serves training data and the live classifier, so both see one filter.
    """
    from rtnote.learn.features import resample as _resample

    return _resample(y, sr_in, sr_out)


def _render_family(soundfont, family, spec):
    """Render one family's programs with a fresh synth (FluidSynth keeps chorus/reverb state,
    so a fresh one per chunk makes the chunk deterministic). Returns (audio int16, meta list)."""
    from rtnote.synth import Note, Renderer

    renderer = Renderer(soundfont, sr=spec.render_sr)
    clips, meta = [], []
    n_out = int(round(spec.duration_s * SR))
    floor = 10.0 ** (spec.silence_db / 20.0)
    try:
        for program in FAMILY_PROGRAMS[family]:
            for pitch, velocity in spec.notes_of(program):
                y = renderer.render(program, [Note(pitch, 0.0, spec.hold_s, velocity)],
                                    duration_s=spec.duration_s)
                y = resample(y, spec.render_sr)[:n_out]
                y = np.pad(y, (0, n_out - len(y)))
                peak = float(np.abs(y).max())
                if peak < floor:
                    continue  # a silent render (DESIGN.md section 6)
                clips.append(np.round(y / peak * 0.5 * 32767).astype(np.int16))
                meta.append({"pitch": pitch, "velocity": velocity, "program": program,
                             "peak_dbfs": round(20 * np.log10(peak), 2)})
    finally:
        renderer.close()
    audio = np.stack(clips) if clips else np.zeros((0, n_out), np.int16)
    return audio, meta


def default_cache_dir():
    """``$RTNOTE_CACHE`` or ``~/.cache/rtnote``."""
    return os.environ.get("RTNOTE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rtnote")


class NoteDataset:
    """The interface: ``name``, ``sr`` [Hz], ``notes`` (list of dict), ``audio(i)``."""

    sr = SR
    name = "notes"

    def __len__(self):
        return len(self.notes)

    def audio(self, i):
        raise NotImplementedError

    def column(self, key):
        """One column of the notes table as an array."""
        return np.array([n[key] for n in self.notes])

    def describe(self):
        """Short provenance dict for manifests."""
        return {"name": self.name, "notes": len(self)}


class RenderedDataset(NoteDataset):
    """NSynth-style notes rendered from one soundfont (cached; deterministic).

    Parameters
    ----------
    soundfont : str
        Name from ``rtnote.synth.SOUNDFONTS`` or a path.
    cache_dir : str or None
        Where rendered clips are kept (default: :func:`default_cache_dir`).
    spec : RenderSpec
    jobs : int > 0
        Families rendered in parallel.
    progress : callable(done, total, text) or None
    """

    def __init__(self, soundfont, cache_dir=None, spec=None, jobs=1, progress=None):
        from rtnote.synth import soundfont_path

        self.soundfont = soundfont
        self.name = os.path.splitext(os.path.basename(soundfont))[0]
        self.spec = spec or RenderSpec()
        path = soundfont_path(soundfont)  # names the Debian package if it is missing
        stat = os.stat(path)
        key = json.dumps({"spec": self.spec.as_dict(), "soundfont": os.path.realpath(path),
                          "size": stat.st_size, "fluidsynth": _library_version("pyfluidsynth"),
                          "ranges": {p: program_range(p) for f in FAMILIES for p in FAMILY_PROGRAMS[f]}},
                         sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.folder = os.path.join(cache_dir or default_cache_dir(), "render", f"{self.name}-{digest}")
        self._build(jobs, progress)

    def _chunk_paths(self, family):
        return (os.path.join(self.folder, f"{family}.npy"), os.path.join(self.folder, f"{family}.json"))

    def _build(self, jobs, progress):
        from joblib import Parallel, delayed

        os.makedirs(self.folder, exist_ok=True)
        todo = [f for f in FAMILIES if not os.path.exists(self._chunk_paths(f)[1])]
        done = len(FAMILIES) - len(todo)
        if progress:
            progress(done, len(FAMILIES), f"rendering {self.name}")
        if todo:
            results = Parallel(n_jobs=min(jobs, len(todo)), return_as="generator")(
                delayed(_render_family)(self.soundfont, f, self.spec) for f in todo)
            for family, (audio, meta) in zip(todo, results):
                self._store(family, audio, meta)
                done += 1
                if progress:
                    progress(done, len(FAMILIES), f"rendering {self.name}")
        self._audio, self.notes = {}, []
        for family in FAMILIES:
            npy, js = self._chunk_paths(family)
            self._audio[family] = np.load(npy, mmap_mode="r")
            with open(js) as f:
                meta = json.load(f)
            for row, m in enumerate(meta):
                self.notes.append({
                    "name": f"{family}_{self.name}_{m['program']:03d}-{m['pitch']:03d}-{m['velocity']:03d}",
                    "pitch": m["pitch"], "velocity": m["velocity"], "family": family,
                    "program": m["program"], "instrument": f"{self.name}:{m['program']:03d}",
                    "source": self.name, "_chunk": family, "_row": row})

    def _store(self, family, audio, meta):
        npy, js = self._chunk_paths(family)
        tmp = npy + ".part"
        with open(tmp, "wb") as f:
            np.save(f, audio)
        os.replace(tmp, npy)
        with open(js + ".part", "w") as f:
            json.dump(meta, f)
        os.replace(js + ".part", js)  # the .json marks the chunk complete

    def audio(self, i):
        note = self.notes[i]
        return self._audio[note["_chunk"]][note["_row"]].astype(np.float32) / 32768.0

    def describe(self):
        return {"name": self.name, "kind": "rendered soundfont", "notes": len(self),
                "render": self.spec.as_dict(), "cache": self.folder}


class NSynthDataset(NoteDataset):
    """One official split of NSynth in its "jsonwav" layout.

    Parameters
    ----------
    root : str
        A split folder (``examples.json`` + ``audio/``), or the folder holding
        ``nsynth-train``, ``nsynth-valid`` and ``nsynth-test``.
    split : {'train', 'valid', 'test'}
        Which split, when ``root`` holds all three.

    Raises
    ------
    rtnote.errors.RtnoteError
        If the folder, ``examples.json`` or a listed wav file is missing or unreadable.
    """

    def __init__(self, root, split="train"):
        if split not in NSYNTH_SPLITS:
            raise RtnoteError(f"NSynth split must be one of {', '.join(NSYNTH_SPLITS)}, not {split!r}")
        folder = root
        if not os.path.exists(os.path.join(root, "examples.json")):
            folder = os.path.join(root, f"nsynth-{split}")
        examples = os.path.join(folder, "examples.json")
        if not os.path.exists(examples):
            raise RtnoteError(
                f"NSynth {split} split not found: no {os.path.join(root, 'examples.json')} nor "
                f"{examples} (download nsynth-{split}.jsonwav.tar.gz from {NSYNTH_URL} and "
                f"unpack it there)")
        try:
            with open(examples) as f:
                table = json.load(f)
        except (OSError, ValueError) as exc:
            raise RtnoteError(f"cannot read {examples}: {exc}") from None
        self.folder = folder
        self.split = split
        self.name = f"nsynth-{split}"
        self.notes = []
        for name in sorted(table):
            v = table[name]
            try:
                family = v["instrument_family_str"]
                note = {"name": name, "pitch": int(v["pitch"]), "velocity": int(v["velocity"]),
                        "family": family, "program": -1,
                        "instrument": v.get("instrument_str", name.rsplit("-", 2)[0]),
                        "source": v.get("instrument_source_str", "unknown")}
            except (KeyError, TypeError, ValueError) as exc:
                raise RtnoteError(f"{examples}: note {name} lacks a valid field ({exc})") from None
            if family in FAMILIES:  # NSynth's vocal/synth_lead names match; others skipped
                self.notes.append(note)

    def audio(self, i):
        import soundfile as sf

        path = os.path.join(self.folder, "audio", self.notes[i]["name"] + ".wav")
        try:
            y, sr = sf.read(path, dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as exc:
            raise RtnoteError(f"cannot read NSynth clip {path}: {exc}") from None
        y = y.mean(axis=1)
        return y if sr == SR else resample(y, sr)

    def describe(self):
        return {"name": self.name, "kind": "NSynth jsonwav", "notes": len(self), "folder": self.folder}


def open_source(spec, cache_dir=None, jobs=1, progress=None):
    """A data set from a command-line name: a soundfont name or path, or ``nsynth:DIR[:split]``."""
    if spec.startswith("nsynth:"):
        rest = spec[len("nsynth:"):]
        root, _, split = rest.rpartition(":") if rest.rsplit(":", 1)[-1] in NSYNTH_SPLITS else (rest, "", "train")
        return NSynthDataset(root, split or "train")
    return RenderedDataset(spec, cache_dir=cache_dir, jobs=jobs, progress=progress)
