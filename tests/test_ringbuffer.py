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
    assert ring.dropped_samples == sum(1 for _, kept in expected if not kept) == gaps + ring.lost_at_end()


def test_a_stall_longer_than_the_gap_table_keeps_the_clock_exact():
    """A reader that stalls while thousands of blocks are dropped: one gap per stall, and
    every dropped sample is in a gap (the old table of one gap per dropped block filled up
    after max_gaps drops and the rest went unaccounted: the clock drifted)."""
    ring = RingBuffer(256, max_gaps=4)
    stream, expected, gaps, got = 0, [], 0, []
    for stall in range(10):  # more stalls than the table holds, each of 2000 blocks
        for _ in range(2000):
            block = np.arange(stream, stream + 64, dtype=np.float32)
            if ring.write(block):
                expected += block.tolist()
            stream += 64
        if stall % 3 == 2:  # the reader wakes up only now and then
            while True:
                samples, gap = ring.read(100)
                gaps += gap
                got += samples.tolist()
                if len(samples) == 0 and gap == 0:
                    break
    while True:
        samples, gap = ring.read(100)
        gaps += gap
        got += samples.tolist()
        if len(samples) == 0 and gap == 0:
            break
    assert got == expected
    assert gaps + ring.lost_at_end() == ring.dropped_samples == stream - len(expected)


def test_threads_with_varying_block_sizes_never_reorder_or_lose_count():
    """A real writer thread (blocks of varying size, like a host with blocksize 0) against a
    reader thread, with the GIL handed over as often as possible."""
    import sys
    import threading

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        rng = np.random.default_rng(1)
        ring = RingBuffer(64, max_gaps=8)
        sizes = rng.integers(1, 48, 5000)
        kept = []

        def writer():
            at = 0
            for n in sizes:
                block = np.arange(at, at + n, dtype=np.float32)
                if ring.write(block):
                    kept.append(block)
                at += n

        thread = threading.Thread(target=writer)
        thread.start()
        got, gaps, position = [], 0, 0
        while thread.is_alive() or ring.available():
            samples, gap = ring.read(int(rng.integers(1, 40)))
            gaps += gap
            position += gap
            if len(samples):  # each sample sits exactly where the clock says
                assert samples[0] == position and np.all(np.diff(samples) == 1)
                position += len(samples)
            got.append(samples)
        thread.join()
    finally:
        sys.setswitchinterval(old)
    assert np.array_equal(np.concatenate(got), np.concatenate(kept))
    assert gaps + ring.lost_at_end() == ring.dropped_samples == sizes.sum() - sum(map(len, kept))
