"""The analyzer: a chain of small streaming stages fed any number of samples at a time.

history -> spectral-flux onsets -> online peak picking -> note tracker (pitch
on sliding windows) -> family classifier. It does not know where the audio comes from;
events depend only on the samples, never on how they were chunked.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from numba import njit

from rtnote.analysis.family import FamilyStage, later_looks_s
from rtnote.analysis.history import History
from rtnote.analysis.notes import LATENCY_PRESETS, NoteTracker
from rtnote.analysis.onset import OnlinePeakPicker, SpectralFlux, levels_db, power_of_two_samples
from rtnote.errors import ConfigError

E1_HZ = 41.2
C8_HZ = 4186.0


@njit("void(float32[::1])", cache=True)
def _sanitize(y):
    """In place: NaN as 0, every value clipped to +-1 (infinities too)."""
    for j in range(len(y)):
        y[j] = 0.0 if np.isnan(y[j]) else min(max(y[j], -1.0), 1.0)


@dataclass(frozen=True)
class Settings:
    """Analyzer settings; every unit is in the name or the comment.

    latency : 'low' | 'balanced' | 'accurate'
        How long the pitch of a new note is watched before it is reported (see README).
    """

    latency: str = "balanced"
    a4_hz: float = 440.0
    fmin_hz: float = 38.0  # a little below E1 (41.2 Hz)
    fmax_hz: float = 4400.0  # a little above C8 (4186 Hz)
    silence_db: float = -60.0  # dBFS
    hop_s: float = 0.0029  # rounded to a power-of-two number of samples
    extra: dict = field(default_factory=dict)  # stage keyword overrides, for experiments

    def validate(self):
        if self.latency not in LATENCY_PRESETS:
            raise ConfigError(f"latency must be one of {sorted(LATENCY_PRESETS)}, not {self.latency!r}")
        if not 400.0 <= self.a4_hz <= 480.0:
            raise ConfigError(f"A4 must be between 400 and 480 Hz, not {self.a4_hz}")
        if not 0 < self.fmin_hz < self.fmax_hz:
            raise ConfigError(f"need 0 < fmin < fmax, not fmin={self.fmin_hz}, fmax={self.fmax_hz}")
        if not -120.0 <= self.silence_db < 0.0:
            raise ConfigError(f"silence level must be in [-120, 0) dBFS, not {self.silence_db}")
        if not 0.0005 <= self.hop_s <= 0.05:
            raise ConfigError(f"hop must be between 0.5 and 50 ms, not {self.hop_s * 1000:g} ms")
        return self


class Analyzer:
    """Streaming note analyzer (aubio-style object, madmom-style chain of stages).

    Parameters
    ----------
    sr : int > 0 [Hz]
        Input sample rate; every size is derived from it once, here.
    settings : Settings
    family_classifier : object with ``predict(y, sr, f0_hz) -> (family, conf)``, optional
        The instrument-family model (see rtnote.analysis.family).
    """

    MAX_BATCH_HOPS = 64  # hops analyzed in one vectorized step at most

    def __init__(self, sr, settings=Settings(), family_classifier=None):
        if not (isinstance(sr, (int, np.integer)) and 1000 <= sr <= 768000):
            raise ConfigError(f"sample rate must be an integer between 1000 and 768000 Hz, not {sr}")
        self.sr = int(sr)
        self.settings = settings.validate()
        self.hop_length = power_of_two_samples(settings.hop_s, self.sr)
        self.n_fft = 4 * self.hop_length
        fmax = min(settings.fmax_hz, 0.45 * self.sr)
        extra = dict(settings.extra)
        looks_s = later_looks_s(family_classifier)
        kept_s = max(0.5, *looks_s)  # the longest look back [seconds]
        self.history = History(int(kept_s * self.sr) + self.n_fft + self.MAX_BATCH_HOPS * self.hop_length)
        self.onset_odf = SpectralFlux(self.sr, self.n_fft, self.hop_length)
        self.onset_picker = OnlinePeakPicker(self.hop_length, self.sr, **extra.pop("picker", {}))
        self.tracker = NoteTracker(self.sr, self.hop_length, self.history, settings.fmin_hz, fmax,
                                   settings.a4_hz, settings.latency, settings.silence_db,
                                   **extra.pop("tracker", {}))
        self.family = FamilyStage(family_classifier, self.sr, self.history, looks_s)
        self._level_len = min(self.n_fft, int(0.006 * self.sr))
        self._backtrack_len = int(0.04 * self.sr)
        self.reset()

    @property
    def latency_s(self):
        """Duration of one hop [seconds], the compute budget per hop."""
        return self.hop_length / self.sr

    def reset(self):
        """Back to the start of a stream."""
        self._carry = np.zeros(0, dtype=np.float32)
        self.history.reset()
        self.onset_odf.reset()
        self.onset_picker.reset()
        self.tracker.reset()
        self.family.reset()
        self.samples_seen = 0  # input samples consumed, gaps included

    @property
    def samples_received(self):
        """Input samples taken so far, gaps included: those analyzed and the part of a hop
        waiting for the rest [samples]."""
        return self.samples_seen + len(self._carry)

    def process(self, y):
        """Feed input samples (any number); returns the events they complete.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), float32]
            Mono input. NaN is treated as silence; values (infinities too) are clipped to +-1.
        """
        y = np.asarray(y, dtype=np.float32)
        if len(self._carry):
            y = np.concatenate((self._carry, y))
        n_hops = len(y) // self.hop_length
        self._carry = y[n_hops * self.hop_length:].copy()
        if n_hops == 0:
            return []
        y = y[: n_hops * self.hop_length]
        events = []
        batch = self.MAX_BATCH_HOPS * self.hop_length
        for i in range(0, len(y), batch):
            events += self._analyze(y[i:i + batch])
        return events

    def _analyze(self, x):
        hop = self.hop_length
        start = self.history.end
        self.history.append(x)
        _sanitize(self.history.window(len(x)))
        span = self.history.window(len(x) + self.n_fft - hop)
        odf = self.onset_odf.process(span)
        fired = self.onset_picker.process(odf)
        level_db = levels_db(span, self.n_fft, hop, self._level_len)
        # per hop, as Python floats: the tracker's scalar arithmetic is faster on them
        for i, (hop_fired, hop_db, hop_odf) in enumerate(zip(fired.tolist(), level_db.tolist(),
                                                             odf.tolist())):
            pos = start + (i + 1) * hop
            onset = None
            if hop_fired and hop_db > self.settings.silence_db:
                onset = self._backtrack(pos)
            for event in self.tracker.step(pos, onset, hop_db, hop_odf):
                self.family.on_event(event)
            self.family.step(pos)
        self.samples_seen = self.history.end
        return self.family.events()

    def _backtrack(self, pos):
        """Where the attack seen at ``pos`` began [sample]: the rise of the energy envelope
        (blocks of a quarter hop) over the last ``backtrack`` samples."""
        block = max(8, self.hop_length // 4)
        span = self.history.segment(pos - self._backtrack_len, pos)
        n = len(span) // block
        if n < 2:  # just after the start of the stream or a gap
            return self.history.start
        power = (span[len(span) - n * block:].reshape(n, block) ** 2).mean(axis=1) + 1e-12
        peak = int(np.argmax(power))
        low = int(np.argmin(power[: peak + 1]))
        if power[peak] < 4.0 * power[low]:  # no energy rise (a pitch change)
            return max(pos - self.n_fft // 2, self.history.start)
        rise = power[low] + 0.1 * (power[peak] - power[low])
        first = low + int(np.argmax(power[low: peak + 1] >= rise))
        return pos - (n - first) * block

    def skip(self, n_dropped):
        """Account for ``n_dropped`` input samples that were lost (a ring-buffer overflow).

        The sounding note ends where the audio was lost; the stages start afresh after it.
        """
        pos = self.history.end
        for event in self.tracker.finish(pos):
            self.family.on_event(event)
        events = self.family.events(wait=True)
        self._carry = np.zeros(0, dtype=np.float32)
        self.family.reset()
        self.history.reset(end=pos + int(n_dropped))
        self.onset_odf.reset()
        self.onset_picker.reset()
        self.tracker.reset()
        self.samples_seen = self.history.end
        return events

    def finish(self):
        """End of stream: end the sounding note. A last partial hop (< 1 hop) is not analyzed."""
        for event in self.tracker.finish(self.history.end):
            self.family.on_event(event)
        self._carry = np.zeros(0, dtype=np.float32)
        return self.family.events(wait=True)

    def poll(self):
        """Events held for a family answer (made in another process) that has come since the
        last call; see :class:`rtnote.analysis.family.FamilyStage`."""
        return self.family.events()

    def with_settings(self, **changes):
        """A fresh analyzer like this one with some settings changed."""
        return Analyzer(self.sr, replace(self.settings, **changes), self.family.classifier)
