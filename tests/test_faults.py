"""Faults and hostile input through the real engine: corrupted files, a stalled worker, a
short soak, nonsense settings, signals at random moments (the JACK cases are in
test_faults_jack.py). The long versions are in benchmarks/faults.py."""

import numpy as np
import pytest
import soundfile as sf

from rtnote.errors import AudioFileError
from rtnote.transcribe import transcribe_file


def tone_file(path, sr, seconds, f0=440.0):
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * f0 * t) * (t > 0.2)
    sf.write(path, y.astype(np.float32), sr)
    return path


def test_a_block_larger_than_the_ring_buffer_does_not_hang(tmp_path):
    """The ring holds 2 s; a 100000-sample block at 8 kHz never fitted and the file reader
    waited for room forever."""
    path = tone_file(tmp_path / "t.wav", 8000, 5.0)
    events = transcribe_file(path, blocksize=100_000).events
    assert events == transcribe_file(path, blocksize=512).events
    assert [e.pitch for e in events if e.type == "note_on"] == [69]


def test_a_header_rate_out_of_range_names_the_file(tmp_path):
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(2000, np.float32), 500)
    with pytest.raises(AudioFileError, match="slow.wav: sample rate must be"):
        transcribe_file(path)
