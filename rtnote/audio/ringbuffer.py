"""Single-producer/single-consumer ring buffer of float32 samples.

The writer (an audio callback) never blocks and never allocates: a block that does not fit
is dropped whole and counted, and the place of the gap is remembered so the reader can keep
its sample clock exact. The reader (the engine's worker) reads up to the next gap.

All state -- samples, counters and the gap table -- lives in one buffer, so the writer and
the reader can be in different processes (the live input's capture process writes into
shared memory, see rtnote.audio.capture). Only the writer moves ``written`` and the gap
count, only the reader moves ``read``: each is one aligned 8-byte store, fenced after the
data it publishes (a private, never contended lock is a full memory barrier, which
weakly ordered CPUs such as ARM64 need), so neither side ever waits for the other.

A run of dropped blocks (a stall of the reader) is one gap, recorded by the writer just
before the next block it stores, so the gap table fills only if the reader leaves more than
``max_gaps`` separate stalls unread; then the writer keeps dropping until a gap can be
recorded, so no dropped sample is ever left out of a gap (the reader's clock stays exact
however long the stall). Samples the writer itself never got (a cycle the audio server
skipped it: :meth:`RingBuffer.lose`) join the same gap.
"""

import threading

import numpy as np

from rtnote.errors import ConfigError

# the counters, in order, at the start of the buffer (int64 each)
(_WRITTEN, _READ, _GAPS_WRITTEN, _GAPS_READ, _LOST, _DROPPED_BLOCKS, _DROPPED_SAMPLES,
 _MISSED_SAMPLES) = range(8)
_N_COUNTERS = 8
_FENCE = threading.Lock()


def _fence():
    """A full memory barrier: what was stored before is visible before what is stored after."""
    with _FENCE:
        pass


class RingBuffer:
    """SPSC float32 ring buffer with counted overflows.

    Parameters
    ----------
    capacity : int > 0
        Size [samples].
    max_gaps : int > 0
        How many unread gaps (dropped blocks) are remembered; further drops still count.
    buffer : writable buffer of ``RingBuffer.nbytes(capacity, max_gaps)`` bytes, or None
        Where the state lives (e.g. ``multiprocessing.shared_memory.SharedMemory.buf``).
        A fresh buffer must be zeroed; the other side attaches to it with the same
        ``capacity`` and ``max_gaps``. None: private memory.
    """

    def __init__(self, capacity, max_gaps=1024, buffer=None):
        if int(capacity) < 1:
            raise ConfigError(f"ring buffer capacity must be >= 1 sample, not {capacity}")
        self.capacity = int(capacity)
        self.max_gaps = int(max_gaps)
        if buffer is None:
            buffer = bytearray(self.nbytes(self.capacity, self.max_gaps))
        n_ints = _N_COUNTERS + 2 * self.max_gaps
        ints = np.ndarray(n_ints, dtype=np.int64, buffer=buffer)
        self._state = ints[:_N_COUNTERS]
        # gap k: before stored sample _gap_at[k], _gap_len[k] samples were dropped
        self._gap_at = ints[_N_COUNTERS:_N_COUNTERS + self.max_gaps]
        self._gap_len = ints[_N_COUNTERS + self.max_gaps:]
        self._data = np.ndarray(self.capacity, dtype=np.float32, buffer=buffer, offset=8 * n_ints)

    @staticmethod
    def nbytes(capacity, max_gaps=1024):
        """Size of the buffer that holds a ring's whole state [bytes]."""
        return 8 * (_N_COUNTERS + 2 * int(max_gaps)) + 4 * int(capacity)

    @property
    def dropped_blocks(self):
        """Blocks dropped because they did not fit [count]."""
        return int(self._state[_DROPPED_BLOCKS])

    @property
    def dropped_samples(self):
        """Samples in the dropped blocks [samples]."""
        return int(self._state[_DROPPED_SAMPLES])

    @property
    def missed_samples(self):
        """Samples the writer never got, told by :meth:`lose` [samples]."""
        return int(self._state[_MISSED_SAMPLES])

    def lose(self, n):
        """Count ``n`` samples the writer never got just before its next block (the audio
        server skipped its callback): part of the gap the reader gets before that block."""
        self._state[_MISSED_SAMPLES] += int(n)
        self._state[_LOST] += int(n)

    def write(self, block):
        """Copy ``block`` (1-D float32) in; if it does not fit, drop it and return False."""
        n = len(block)
        if n == 0:
            return True
        state = self._state
        w = int(state[_WRITTEN])
        if n > self.capacity - (w - int(state[_READ])) or (state[_LOST] and not self._record_gap(w)):
            state[_DROPPED_BLOCKS] += 1
            state[_DROPPED_SAMPLES] += n
            state[_LOST] += n
            return False
        start = w % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = block[:first]
        self._data[:n - first] = block[first:]
        _fence()
        state[_WRITTEN] = w + n
        return True

    def _record_gap(self, at):
        """Record the samples lost so far as a gap before stored sample ``at`` (writer only);
        False when the table of unread gaps is full."""
        state = self._state
        k = int(state[_GAPS_WRITTEN])
        if k - int(state[_GAPS_READ]) >= self.max_gaps:
            return False
        self._gap_at[k % self.max_gaps] = at
        self._gap_len[k % self.max_gaps] = state[_LOST]
        state[_LOST] = 0
        _fence()
        state[_GAPS_WRITTEN] = k + 1
        return True

    def lost_at_end(self):
        """Samples dropped after the last stored sample [samples]; ask once the writer has
        stopped (while it runs, they become a gap before its next stored block)."""
        return int(self._state[_LOST])

    def available(self):
        """Samples ready to read [samples]."""
        return int(self._state[_WRITTEN] - self._state[_READ])

    def free(self):
        """Room left for the writer [samples]."""
        return self.capacity - self.available()

    def read(self, n, out=None):
        """Read up to ``n`` samples, stopping at the next gap.

        Returns
        -------
        samples : np.ndarray [shape=(m,), m <= n]
            A copy (or ``out[:m]``).
        gap : int >= 0
            Samples dropped just before ``samples`` (0 when the stream is continuous).
        """
        state = self._state
        r = int(state[_READ])
        written = int(state[_WRITTEN])  # first: every gap before these samples is recorded by now
        _fence()
        gap = 0
        while state[_GAPS_READ] < state[_GAPS_WRITTEN]:
            _fence()
            k = int(state[_GAPS_READ]) % self.max_gaps
            at = int(self._gap_at[k])
            if at != r:
                n = min(n, at - r)
                break
            gap += int(self._gap_len[k])
            state[_GAPS_READ] += 1
        n = max(0, min(n, written - r))
        samples = np.empty(n, dtype=np.float32) if out is None else out[:n]
        start = r % self.capacity
        first = min(n, self.capacity - start)
        samples[:first] = self._data[start:start + first]
        samples[first:] = self._data[:n - first]
        _fence()
        state[_READ] = r + n
        return samples, gap
