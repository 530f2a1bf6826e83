import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtnote.audio.ringbuffer import RingBuffer
from rtnote.errors import ConfigError


def test_wraps_around_and_keeps_order():
    ring = RingBuffer(10)
    out = []
    counter = 0
    for size in (3, 4, 2, 5, 6, 1):
        block = np.arange(counter, counter + size, dtype=np.float32)
        counter += size
        assert ring.write(block)
        got, gap = ring.read(size)
        assert gap == 0
        out.append(got)
    assert np.array_equal(np.concatenate(out), np.arange(counter, dtype=np.float32))


def test_overflow_drops_whole_block_and_reports_gap():
    ring = RingBuffer(8)
    assert ring.write(np.ones(6, np.float32))
    assert not ring.write(np.full(4, 2, np.float32))  # does not fit: dropped
    assert ring.dropped_blocks == 1 and ring.dropped_samples == 4
    assert ring.write(np.full(2, 3, np.float32))
    first, gap = ring.read(100)
    assert gap == 0 and np.array_equal(first, np.ones(6))  # stops at the gap
    second, gap = ring.read(100)
    assert gap == 4 and np.array_equal(second, [3, 3])


def test_capacity_is_checked():
    with pytest.raises(ConfigError, match="capacity"):
        RingBuffer(0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 64), st.lists(st.tuples(st.booleans(), st.integers(0, 80)), max_size=60))
def test_any_interleaving_keeps_order_and_counts_drops(capacity, ops):
    """Whatever the writes and reads: read data + gaps == written data, in order."""
    ring = RingBuffer(capacity)
    stream = 0  # next sample value to write
    expected = []  # (value, kept) for every sample ever offered
    got, gaps = [], 0
    for is_write, size in ops:
        if is_write:
            block = np.arange(stream, stream + size, dtype=np.float32)
            kept = ring.write(block)
            expected += [(v, kept) for v in range(stream, stream + size)]
            stream += size
        else:
            samples, gap = ring.read(size)
            gaps += gap
            got += samples.tolist()
    while True:
        samples, gap = ring.read(capacity)
        gaps += gap
        got += samples.tolist()
        if len(samples) == 0:
            break
    assert got == [v for v, kept in expected if kept]
    assert ring.dropped_samples == sum(1 for _, kept in expected if not kept) == gaps
