"""Bad and odd input: one clear line and a non-zero exit for what cannot be read, sensible
results for what can, and nothing else in a batch is lost."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from rtnote.transcribe import transcribe_file


def rtnote(*args):
    return subprocess.run([sys.executable, "-m", "rtnote", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def tone(sr, seconds=1.0, f0=440.0, level=0.5, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    y = level * np.sin(2 * np.pi * f0 * t) * np.minimum(1, t * 50)
    y[: int(0.2 * sr)] = 0.0
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32)


def test_unreadable_files_get_one_line_each_and_the_batch_goes_on(tmp_path, melody_wav):
    good = melody_wav[0]
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    no_frames = tmp_path / "noframes.wav"
    sf.write(no_frames, np.zeros((0, 1), np.float32), 44100)
    truncated = tmp_path / "truncated.flac"
    sf.write(truncated, tone(44100, 3.0), 44100)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    missing = tmp_path / "missing.wav"
    out = tmp_path / "out"
    proc = rtnote("transcribe", empty, text, no_frames, missing, truncated, good, "--out-dir", out)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rtnote: error:")]
    for bad in (empty, text, no_frames, missing):
        assert sum(str(bad) in line for line in errors) == 1, proc.stderr
    assert (out / "melody.mid").exists() and (out / "melody.jsonl").exists()
    assert not (out / "empty.mid").exists() and not list(out.glob(".rtnote-*"))


@pytest.mark.parametrize("sr,channels", [(8000, 1), (96000, 1), (44100, 6), (22050, 2)])
def test_any_rate_and_channel_count(tmp_path, sr, channels):
    path = tmp_path / f"a{sr}_{channels}.wav"
    sf.write(path, tone(sr, channels=channels), sr)
    events = transcribe_file(path).events
    ons = [e for e in events if e.type == "note_on"]
    assert [e.pitch for e in ons] == [69]
    assert all(e.sr == sr for e in events)
    assert abs(ons[0].onset_sample / sr - 0.2) < 0.03


@pytest.mark.parametrize("case", ["silence", "one_sample", "dc_offset", "clipping", "nonfinite", "noise_1e-9"])
def test_odd_signals(tmp_path, case):
    sr = 44100
    y = tone(sr)[:, 0]
    if case == "silence":
        y = np.zeros(sr, np.float32)
    elif case == "one_sample":
        y = np.array([0.3], np.float32)
    elif case == "dc_offset":
        y = y * 0.5 + 0.4
    elif case == "clipping":
        y = np.clip(y * 20, -1, 1)
    elif case == "nonfinite":
        y[sr // 2: sr // 2 + 100] = np.nan
        y[sr // 2 + 200] = np.inf
    elif case == "noise_1e-9":
        y = (1e-9 * np.random.default_rng(0).standard_normal(sr)).astype(np.float32)
    path = tmp_path / f"{case}.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    proc = rtnote("transcribe", path, "--events", tmp_path / "e.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    pitches = [e.pitch for e in transcribe_file(path).events if e.type == "note_on"]
    if case in ("silence", "one_sample", "noise_1e-9"):
        assert pitches == []
    else:
        assert pitches and pitches[0] == 69, pitches
    if case == "nonfinite":
        assert "101 non-finite samples" in proc.stderr


def test_nonsense_settings_get_one_line(melody_wav):
    for args in (["--a4", "-3"], ["--jobs", "0"], ["--blocksize", "0"], ["--silence-db", "5"]):
        proc = rtnote("transcribe", melody_wav[0], "-o", "/dev/null", *args)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
