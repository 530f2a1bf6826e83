"""The rtnote side of ``rtnote bench --jack``: ``rtnote listen`` itself, run unchanged, with a
tap on the worker's side of the ring buffer that finds where the played audio's sounds begin
in rtnote's input stream.

    python -m rtnote.bench.livechild TAP.json LISTEN-ARGS...

Why a tap: events count samples of rtnote's input stream, whose first sample is some JACK
frame S that PortAudio does not tell. The player starts its audio, after at least
``min_silence_s`` of digital silence, at a known JACK frame; the tap finds the stream index
of its first non-zero sample, which fixes S exactly (the dummy driver and PortAudio's float
path carry samples bit-exact). It also notes every later sound that follows such a silence
(the gaps between rendered melodies): if a dropped cycle cost rtnote's stream some frames,
the next of these re-aligns the stream and measures the loss. The tap reads in the worker
thread, after the callback has copied the block: the real-time callback is untouched.

The listen command builds its Engine with ``from rtnote.engine import Engine`` at run time;
this module swaps in a subclass whose ring buffer is a :class:`SoundStartRing`, and changes
nothing else.
"""

import json
import sys

import numpy as np

from rtnote.audio.ringbuffer import RingBuffer


class SoundStartRing(RingBuffer):
    """A RingBuffer whose reader notes where sounds begin and end around silences.

    ``starts``: stream index of every non-zero sample that follows at least ``min_silence``
    samples of exact zeros (or the stream start). ``ends``: stream index of every non-zero
    sample followed by at least ``min_silence`` exact zeros (the last one once
    :meth:`finish` is called).

    Parameters
    ----------
    capacity : int > 0 [samples]
    min_silence : int >= 0 [samples]
    """

    MAX_MARKS = 100000

    def __init__(self, capacity, min_silence=0, max_gaps=1024):
        super().__init__(capacity, max_gaps)
        self.min_silence = int(min_silence)
        self.starts = []  # stream indices [samples]
        self.ends = []
        self._pos = 0  # stream index of the next sample read (gaps included)
        self._last_nonzero = -1  # stream index of the last non-zero sample read
        self._last_real = False  # _last_nonzero is a sample heard (not a gap's edge)

    def read(self, n, out=None):
        samples, gap = super().read(n, out)
        self._pos += gap
        if gap:
            self._last_nonzero = self._pos - 1  # lost audio is not known silence
            self._last_real = False
        if len(samples) and len(self.starts) < self.MAX_MARKS:
            nonzero = np.flatnonzero(samples) + self._pos
            if len(nonzero):
                previous = np.concatenate(([self._last_nonzero], nonzero[:-1]))
                after = np.flatnonzero(nonzero - previous - 1 >= self.min_silence)
                self.starts += [int(nonzero[k]) for k in after]
                self.ends += [int(previous[k]) for k in after if k > 0 or self._last_real]
                self._last_nonzero = int(nonzero[-1])
                self._last_real = True
        self._pos += len(samples)
        return samples, gap

    def finish(self):
        """At the end of the stream: the last sound ended if silence followed it."""
        if self._last_real and self._pos - self._last_nonzero - 1 >= self.min_silence:
            self.ends.append(int(self._last_nonzero))
            self._last_real = False

    @property
    def first_sound(self):
        """Stream index of the first sound after silence [samples], or None."""
        return self.starts[0] if self.starts else None


def main(argv=None):
    """Run ``rtnote listen ARGS`` with the tap; write {first_sound_sample, sound_starts,
    sound_ends, ...} to TAP.json."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tap_path, min_silence_s, listen_args = argv[0], float(argv[1]), argv[2:]
    import rtnote.engine

    engines = []

    class TappedEngine(rtnote.engine.Engine):
        def __init__(self, analyzer, *args, **kwargs):
            super().__init__(analyzer, *args, **kwargs)
            self.ring = SoundStartRing(self.ring.capacity, int(min_silence_s * analyzer.sr))
            engines.append(self)

    rtnote.engine.Engine = TappedEngine
    from rtnote.cli import main as cli_main

    code = cli_main(["listen", *listen_args])
    tap = {"first_sound_sample": None, "sr": None}
    if engines:
        engine = engines[-1]
        engine.ring.finish()
        tap = {"first_sound_sample": engine.ring.first_sound, "sound_starts": engine.ring.starts,
               "sound_ends": engine.ring.ends,
               "sr": engine.analyzer.sr,
               "hop_length": engine.analyzer.hop_length,
               "samples_seen": engine.analyzer.samples_seen}
    with open(tap_path, "w") as f:
        json.dump(tap, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
