"""Fault injection for the fault tests and benchmarks/faults.py: damaged audio files, a
stalled worker, an hour of music fed from memory, and the checks that go with them.

- :func:`fuzz_files` -- clean WAV/FLAC/OGG/MP3 files damaged by seeded mutations (bit flips,
  truncation, header garbage, bursts of garbage, zeroed runs, a duplicated chunk).
- :class:`StalledAnalyzer` -- an analyzer whose ``process`` sleeps once at a given sample:
  the worker stalls, a paced source keeps writing and the ring buffer overflows.
- :class:`MemorySource` -- a source that writes a sequence of arrays (an hour of music
  without an hour of memory), paced or as fast as the reader keeps up.
- :func:`soak_segments` / :func:`soak_plan` -- rendered melodies and a seeded order and
  gain for each repeat; :class:`SegmentChecker` compares the events of each repeat with the
  same audio run alone, as they come, keeping nothing else.
- :func:`invented_in_gaps` -- note_ons placed inside lost audio (must be none).
- :data:`NONSENSE_SETTINGS` and :func:`damaged_models` -- settings and model files each
  command must refuse in one line.
"""

import io
import os
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from rtnote.events import NoteOff, NoteOn

#: extension -> (libsndfile format, subtype) of the clean files the fuzzer damages
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
           "mp3": ("MP3", "MPEG_LAYER_III")}

MUTATIONS = ("bit_flips", "truncate", "header_garbage", "burst_garbage", "zero_run",
             "duplicate_chunk")


def let_sigint_reach_children():
    """Started as a shell's background job, this process ignores SIGINT, and so would the
    rtnote it starts (rtnote keeps a signal it was started ignoring); the tests and benchmarks
    stop rtnote as a user at a terminal does: give the processes started from here the default."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def fuzz_formats():
    """The FORMATS this libsndfile can write (MP3 needs libsndfile >= 1.1)."""
    import soundfile

    have = soundfile.available_formats()
    return [ext for ext, (fmt, _) in FORMATS.items() if fmt in have]


def test_signal(sr=22050, seconds=1.5, channels=2):
    """Three plucked harmonic tones (A4, C#5, E5): the audio the fuzzer damages."""
    t = np.arange(int(sr * seconds)) / sr
    y = np.zeros_like(t)
    for i, f0 in enumerate((440.0, 554.37, 659.26)):
        start = 0.15 + 0.45 * i
        u = np.clip(t - start, 0, None)
        env = (t >= start) * np.exp(-3 * u) * np.minimum(1, u / 0.005)
        y += env * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
    y = 0.4 * y / np.abs(y).max()
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32), sr


def encode(ext, y, sr):
    """``y`` [frames, channels] encoded as a file of type ``ext`` (bytes)."""
    import soundfile

    fmt, subtype = FORMATS[ext]
    buf = io.BytesIO()
    soundfile.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def mutate(data, rng, kind=None):
    """A damaged copy of ``data`` (bytes); returns (bytes, kind).

    Parameters
    ----------
    rng : np.random.Generator
    kind : one of MUTATIONS or None (drawn)
    """
    d = bytearray(data)
    kind = kind or MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    size = len(d)
    if kind == "bit_flips":
        for _ in range(int(rng.integers(1, 32))):
            i = int(rng.integers(size))
            d[i] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        d = d[: int(rng.integers(0, size))]
    elif kind == "header_garbage":  # the first 256 bytes: where the format is declared
        i = int(rng.integers(0, min(size, 256)))
        n = int(rng.integers(1, 64))
        d[i:i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif kind == "burst_garbage":
        i = int(rng.integers(size))
        n = int(rng.integers(1, 4096))
        d[i:i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif kind == "zero_run":
        i = int(rng.integers(size))
        d[i:i + int(rng.integers(1, 2048))] = bytes(min(size - i, 2048))[: len(d[i:i + 2048])]
    elif kind == "duplicate_chunk":
        i, j = sorted(int(x) for x in rng.integers(0, size, 2))
        k = int(rng.integers(size))
        d = d[:k] + d[i:j][:8192] + d[k:]
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return bytes(d), kind


@dataclass(frozen=True)
class FuzzFile:
    path: str
    ext: str
    kind: str


def fuzz_files(folder, n, seed=0, formats=None):
    """Write ``n`` damaged audio files into ``folder``, formats in turn.

    Returns
    -------
    list of FuzzFile
    """
    rng = np.random.default_rng(seed)
    formats = formats or fuzz_formats()
    y, sr = test_signal()
    clean = {ext: encode(ext, y, sr) for ext in formats}
    out = []
    for i in range(n):
        ext = formats[i % len(formats)]
        data, kind = mutate(clean[ext], rng)
        path = os.path.join(folder, f"fuzz{seed}-{i:05d}-{kind}.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        out.append(FuzzFile(path, ext, kind))
    return out


class StalledAnalyzer:
    """An analyzer whose ``process`` sleeps ``stall_s`` once, when the stream reaches
    ``at_sample`` (a slow sink, a swapped-out worker, a long GC pause...). Everything
    else is the wrapped analyzer's. ``stalls`` lists (sample, seconds) of each stall."""

    def __init__(self, analyzer, at_sample, stall_s):
        self._analyzer = analyzer
        self._at = int(at_sample)
        self._stall_s = float(stall_s)
        self.stalls = []
        self.skips = []  # (sample, n_dropped) of each gap the engine reported

    def __getattr__(self, name):
        return getattr(self._analyzer, name)

    def process(self, y):
        if not self.stalls and self._analyzer.samples_seen >= self._at:
            self.stalls.append((self._analyzer.samples_seen, self._stall_s))
            time.sleep(self._stall_s)
        return self._analyzer.process(y)

    def skip(self, n_dropped):
        self.skips.append((self._analyzer.history.end, int(n_dropped)))
        return self._analyzer.skip(n_dropped)


class MemorySource:
    """Writes arrays one after another into the ring buffer, in blocks (a source like
    rtnote.audio.sources.FileSource, without a file).

    Parameters
    ----------
    pieces : iterable of np.ndarray [float32, mono]
        Read lazily: a generator keeps memory flat however long the stream.
    sr : int > 0 [Hz]
    blocksize : int > 0 [samples]
    paced : bool
        In real time (a full ring drops blocks), or as fast as the reader keeps up.
    lost_blocks : set of int
        Blocks (counted from 0 over all pieces) never delivered, as when the audio server
        skips the input's callback: not written, the ring is told (``ring.lose``).
    """

    def __init__(self, pieces, sr, blocksize=4096, paced=False, lost_blocks=()):
        self.sr = int(sr)
        self.blocksize = int(blocksize)
        self.paced = paced
        self.lost_blocks = set(lost_blocks)
        self.frames_read = 0
        self.max_write_s = 0.0  # longest time one ring.write took [seconds]
        self.finished = threading.Event()
        self.error = None
        self._pieces = pieces
        self._stop = threading.Event()
        self._thread = None

    def start(self, ring):
        self._thread = threading.Thread(target=self._run, args=(ring,), name="rtnote-memory",
                                        daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, ring):
        t0 = time.perf_counter()
        index = -1  # of the block, over all pieces
        try:
            for piece in self._pieces:
                for i in range(0, len(piece), self.blocksize):
                    if self._stop.is_set():
                        return
                    block = piece[i:i + self.blocksize]
                    index += 1
                    if index in self.lost_blocks:
                        ring.lose(len(block))
                        self.frames_read += len(block)
                        continue
                    if self.paced:
                        due = t0 + (self.frames_read + len(block)) / self.sr
                        time.sleep(max(0.0, due - time.perf_counter()))
                    else:
                        while ring.free() < len(block) and not self._stop.is_set():
                            time.sleep(0.0005)
                    w0 = time.perf_counter()
                    ring.write(block)
                    self.max_write_s = max(self.max_write_s, time.perf_counter() - w0)
                    self.frames_read += len(block)
        finally:
            self.finished.set()


def invented_in_gaps(events, gaps):
    """note_ons whose onset lies inside lost audio.

    Parameters
    ----------
    gaps : list of (sample, n_dropped)
        Where audio was lost: samples [sample, sample + n_dropped) never reached the analyzer.
    """
    return [e for e in events if isinstance(e, NoteOn)
            and any(at <= e.onset_sample < at + n for at, n in gaps)]


def unpaired(events):
    """note_on ids without a note_off, and note_off ids without a note_on."""
    ons = {e.note_id for e in events if isinstance(e, NoteOn)}
    offs = {e.note_id for e in events if isinstance(e, NoteOff)}
    return ons ^ offs


def rss_mb(pid=None):
    """Resident memory of a process (default: this one) [MiB], from /proc (Linux)."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


# -- soak: an hour of music from a few rendered segments --------------------------------

ALIGN = 4096  # segment lengths are multiples of this [samples] (any hop up to 4096 divides it)


def soak_segments(n_segments=8, notes=60, sr=44100, soundfont="FluidR3_GM", seed=0,
                  silence_s=1.0):
    """Rendered melodies, one voice each (rtnote.bench.workload.VOICES in turn), each ending
    in at least ``silence_s`` of digital silence so that a segment starts a fresh phrase,
    and a multiple of ALIGN samples long, so that the hops fall on the same samples of a
    segment wherever it is played (events then match exactly).

    Returns
    -------
    list of np.ndarray [float32, peak 0.5]
    """
    from rtnote.bench.workload import VOICES
    from rtnote.synth import Renderer, random_melody

    renderer = Renderer(soundfont, sr=sr)
    rng = np.random.default_rng(seed)
    out = []
    try:
        i = 0
        while len(out) < n_segments:
            program, low, high = VOICES[i % len(VOICES)]
            i += 1
            y = renderer.render(program, random_melody(rng, low, high, notes))
            top = float(np.abs(y).max())
            if top < 1e-4:
                continue
            tail = int(silence_s * sr)
            tail += -(len(y) + tail) % ALIGN  # every repeat starts on the analyzer's hop grid
            out.append(np.concatenate((0.5 * y / top, np.zeros(tail))).astype(np.float32))
    finally:
        renderer.close()
    return out


GAINS = (1.0, 0.5, 0.25)  # 0, -6, -12 dB


def soak_plan(segments, seconds, sr=44100, seed=0):
    """[(segment index, gain index)] whose audio lasts at least ``seconds``: every segment
    at every gain (GAINS) in a seeded order, again and again."""
    rng = np.random.default_rng(seed)
    pairs = [(s, g) for s in range(len(segments)) for g in range(len(GAINS))]
    plan, total = [], 0
    while total < seconds * sr:
        for k in rng.permutation(len(pairs)):
            plan.append(pairs[k])
            total += len(segments[pairs[k][0]])
            if total >= seconds * sr:
                break
    return plan


def normalized(events, start=0):
    """Events as comparable tuples: samples relative to ``start``, note ids renumbered in
    order of appearance (a long run counts ids from its own start)."""
    ids = {}
    out = []
    for e in events:
        d = dict(e.__dict__)
        for key in ("note_id", "replaces"):
            if d.get(key) is not None:
                d[key] = ids.setdefault(d[key], len(ids))
        for key in ("onset_sample", "decision_sample", "offset_sample"):
            if key in d:
                d[key] -= start
        out.append((type(e).__name__, tuple(sorted(d.items()))))
    return out


class SegmentChecker:
    """A sink that compares, repeat by repeat, the events of a long run with the events of
    the same audio run alone, and keeps only the counts.

    Parameters
    ----------
    starts : list of int [samples]
        Where each repeat begins in the long stream (and one more: where the last ends).
    expected : list
        The normalized events of each repeat run alone (see :func:`normalized`).
    """

    def __init__(self, starts, expected):
        self.starts = list(starts)
        self.expected = expected
        self.current = 0
        self.pending = []
        self.matched = 0
        self.mismatched = []  # repeat indices whose events differ
        self.notes_expected = 0
        self.notes_lost = 0  # expected note_ons missing from the long run
        self.notes_extra = 0  # note_ons the long run has and the run alone has not
        self.events = 0

    def _segment_of(self, event):
        return int(np.searchsorted(self.starts, event.onset_sample, side="right") - 1)

    def handle(self, event):
        self.events += 1
        k = self._segment_of(event)
        while k > self.current:
            self._close(self.current)
            self.current += 1
        self.pending.append(event)

    def _close(self, k):
        got = normalized(self.pending, self.starts[k])
        want = self.expected[k]
        self.pending = []
        ons_got = [g for g in got if g[0] == "NoteOn"]
        ons_want = [w for w in want if w[0] == "NoteOn"]
        self.notes_expected += len(ons_want)
        self.notes_lost += sum(1 for w in ons_want if w not in ons_got)
        self.notes_extra += sum(1 for g in ons_got if g not in ons_want)
        if got == want:
            self.matched += 1
        else:
            self.mismatched.append(k)

    def close(self):
        while self.current < len(self.expected):
            self._close(self.current)
            self.current += 1


# -- settings and model files every command must refuse in one line -------------------

#: (command, arguments): ``{wav}`` is a readable audio file, ``{tmp}`` a writable folder.
NONSENSE_SETTINGS = [
    ("transcribe", "{wav} --a4 -3"), ("transcribe", "{wav} --a4 nan"),
    ("transcribe", "{wav} --silence-db 5"), ("transcribe", "{wav} --jobs 0"),
    ("transcribe", "{wav} --blocksize -5"), ("transcribe", "{wav} --blocksize abc"),
    ("transcribe", "{wav} --latency fast"),
    ("transcribe", "{wav} -o {tmp}/missing/x.mid --model none"),
    ("transcribe", "{wav} --events {tmp} --model none"),
    ("transcribe", "{wav} {wav} -o {tmp}/x.mid --model none"),
    ("listen", "--samplerate -44100"), ("listen", "--samplerate 0"),
    ("listen", "--blocksize -1"), ("listen", "--blocksize 99999999"),
    ("listen", "--channels 0"), ("listen", "--device no-such-device"),
    ("listen", "--device 99"), ("listen", "--midi-out '' --midi-api jack"),
    ("listen", "--bend-range 0 --midi-out"), ("listen", "--midi-api bogus"),
    ("listen", "--channel-per-family"), ("listen", "--midi-out x --midi-port y"),
    ("listen", "-o {tmp}/missing/x.mid"), ("listen", "--stats {tmp}"),
    ("demo", "--a4 1e9"), ("demo", "--silence-db -1000"), ("demo", "--bend-range 99 --midi-out"),
    ("demo", "-o {tmp}/missing/d.mid"), ("demo", "--events {tmp}"),
    ("bench", "--blocksize 0"), ("bench", "--melodies -1"), ("bench", "--notes 0"),
    ("bench", "--jack --samplerate -1"), ("bench", "--jack --periods 0"),
    ("bench", "--jack --periods 300"), ("bench", "--json {tmp}/missing/b.json"),
    ("midi-ports", "--midi-api bogus"), ("devices", "--host-api"),
    ("train", "--jobs 0"), ("train", "--copies -1"), ("train", "-o model.pkl"),
    ("train", "--data nsynth:{tmp}/missing"),
    ("evaluate", "--jobs 0"), ("evaluate", "--model none"),
]


def damaged_models(folder):
    """Copies of the shipped family model, damaged: {name: (path, extra arguments)}.

    truncated / edited: the file no longer matches its manifest (refused), and with
    --trust-model it fails to load; other_sklearn: the manifest says another scikit-learn
    made it; no_manifest: nothing vouches for it; not_a_model: a text file.
    """
    import json
    import shutil

    from rtnote.classifier import default_model_path, manifest_path

    src = default_model_path()
    out = {}

    def copy(name):
        path = os.path.join(folder, f"{name}.joblib")
        shutil.copyfile(src, path)
        shutil.copyfile(manifest_path(src), manifest_path(path))
        return path

    for name in ("truncated", "edited"):
        path = copy(name)
        data = open(path, "rb").read()
        if name == "truncated":
            data = data[: len(data) // 3]
        else:
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:]
        with open(path, "wb") as f:
            f.write(data)
        out[name] = (path, [])
        out[f"{name}_trusted"] = (path, ["--trust-model"])
    path = copy("other_sklearn")
    manifest = json.load(open(manifest_path(path)))
    manifest.setdefault("versions", {})["scikit-learn"] = "0.20.0"
    json.dump(manifest, open(manifest_path(path), "w"))
    out["other_sklearn"] = (path, [])
    path = copy("no_manifest")
    os.remove(manifest_path(path))
    out["no_manifest"] = (path, [])
    path = os.path.join(folder, "not_a_model.joblib")
    with open(path, "w") as f:
        f.write("not a model\n")
    out["not_a_model_trusted"] = (path, ["--trust-model"])
    return out
