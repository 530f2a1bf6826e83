"""Single-producer/single-consumer ring buffer of float32 samples.

The writer (an audio callback) never blocks and never allocates: a block that does not fit
is dropped whole and counted, and the place of the gap is remembered so the reader can keep
its sample clock exact. The reader (the engine's worker) reads up to the next gap.
Only the writer moves ``_written``; only the reader moves ``_read``; in CPython an int
assignment is atomic, so no lock is needed.

A run of dropped blocks (a stall of the reader) is one gap, recorded by the writer just
before the next block it stores, so the gap table fills only if the reader leaves more than
``max_gaps`` separate stalls unread; then the writer keeps dropping until a gap can be
recorded, so no dropped sample is ever left out of a gap (the reader's clock stays exact
however long the stall).
"""

import numpy as np

from rtnote.errors import ConfigError


class RingBuffer:
    """SPSC float32 ring buffer with counted overflows.

    Parameters
    ----------
    capacity : int > 0
        Size [samples].
    max_gaps : int > 0
        How many unread gaps (dropped blocks) are remembered; further drops still count.
    """

    def __init__(self, capacity, max_gaps=1024):
        if int(capacity) < 1:
            raise ConfigError(f"ring buffer capacity must be >= 1 sample, not {capacity}")
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self._written = 0  # samples ever stored (writer only)
        self._read = 0  # samples ever read (reader only)
        # gap k: before stored sample _gap_at[k], _gap_len[k] samples were dropped
        self._gap_at = np.zeros(max_gaps, dtype=np.int64)
        self._gap_len = np.zeros(max_gaps, dtype=np.int64)
        self._gaps_written = 0
        self._gaps_read = 0
        self._lost = 0  # samples dropped since the last stored sample, not yet in a gap (writer only)
        self.dropped_blocks = 0
        self.dropped_samples = 0

    def write(self, block):
        """Copy ``block`` (1-D float32) in; if it does not fit, drop it and return False."""
        n = len(block)
        if n == 0:
            return True
        w = self._written
        if n > self.capacity - (w - self._read) or (self._lost and not self._record_gap(w)):
            self.dropped_blocks += 1
            self.dropped_samples += n
            self._lost += n
            return False
        start = w % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = block[:first]
        self._data[:n - first] = block[first:]
        self._written = w + n
        return True

    def _record_gap(self, at):
        """Record the samples lost so far as a gap before stored sample ``at`` (writer only);
        False when the table of unread gaps is full."""
        k = self._gaps_written
        if k - self._gaps_read >= len(self._gap_at):
            return False
        self._gap_at[k % len(self._gap_at)] = at
        self._gap_len[k % len(self._gap_len)] = self._lost
        self._lost = 0
        self._gaps_written = k + 1
        return True

    def lost_at_end(self):
        """Samples dropped after the last stored sample [samples]; ask once the writer has
        stopped (while it runs, they become a gap before its next stored block)."""
        return self._lost

    def available(self):
        """Samples ready to read [samples]."""
        return self._written - self._read

    def free(self):
        """Room left for the writer [samples]."""
        return self.capacity - (self._written - self._read)

    def read(self, n, out=None):
        """Read up to ``n`` samples, stopping at the next gap.

        Returns
        -------
        samples : np.ndarray [shape=(m,), m <= n]
            A copy (or ``out[:m]``).
        gap : int >= 0
            Samples dropped just before ``samples`` (0 when the stream is continuous).
        """
        r = self._read
        written = self._written  # first: every gap before these samples is recorded by now
        gap = 0
        while self._gaps_read < self._gaps_written:
            k = self._gaps_read % len(self._gap_at)
            at = int(self._gap_at[k])
            if at != r:
                n = min(n, at - r)
                break
            gap += int(self._gap_len[k])
            self._gaps_read += 1
        n = max(0, min(n, written - r))
        samples = np.empty(n, dtype=np.float32) if out is None else out[:n]
        start = r % self.capacity
        first = min(n, self.capacity - start)
        samples[:first] = self._data[start:start + first]
        samples[first:] = self._data[:n - first]
        self._read = r + n
        return samples, gap
