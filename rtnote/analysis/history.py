"""The analyzer's memory of recent input (madmom's BufferProcessor): a fixed array that
new samples shift into, addressed by absolute sample index."""

import numpy as np


class History:
    """The last ``size`` samples of the stream, addressed by absolute sample index.

    Parameters
    ----------
    size : int > 0 [samples]
        How far back segments can reach.
    """

    def __init__(self, size):
        self.size = int(size)
        self._data = np.zeros(2 * self.size, dtype=np.float32)
        self.reset()

    def reset(self, end=0):
        """Forget everything; the next sample appended has index ``end``."""
        self._data[:] = 0.0
        self._fill = self.size  # data[:fill] is valid; data[fill-1] is sample end-1
        self.end = end
        self.start = end  # first sample of this stretch of stream (after a reset or gap)

    def append(self, y):
        """Add samples; returns the view ``[end - size, new end)`` they are part of."""
        n = len(y)
        if n > self.size:
            self.append(y[:-self.size])
            y = y[-self.size:]
            n = self.size
        if self._fill + n > len(self._data):
            keep = self.size
            self._data[:keep] = self._data[self._fill - keep:self._fill]
            self._fill = keep
        self._data[self._fill:self._fill + n] = y
        self._fill += n
        self.end += n

    def window(self, length):
        """The last ``length`` samples (``length <= size``), as a view."""
        return self._data[self._fill - length:self._fill]

    def segment(self, start, stop):
        """Samples with absolute indices ``[start, stop)``, clipped to what is remembered
        (and to ``self.start``: nothing before the stream or a gap)."""
        start = max(start, self.end - self.size, self.start)
        stop = min(stop, self.end)
        if stop <= start:
            return self._data[:0]
        return self._data[self._fill - (self.end - start):self._fill - (self.end - stop)]
