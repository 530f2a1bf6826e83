"""Shared fixtures: real rendered music (FluidSynth + Debian soundfonts) with ground truth.

A part missing on a developer's machine skips its tests with the reason; in CI (CI=true),
which installs every part, a missing part fails instead.
"""

import os

import numpy as np
import pytest

from rtnote.bench.faults import let_sigint_reach_children

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

let_sigint_reach_children()  # the tests stop rtnote with SIGINT, as at a terminal


def require(condition, reason):
    """Skip (or, in CI, fail) when a real part a test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def renderer_factory():
    """Renderer(soundfont) for FluidSynth renders; skips/fails if FluidSynth is missing.
    ``fresh=True`` gives a new one, whose renders do not depend on what the tests before
    rendered (FluidSynth keeps some state across renders; a quiet note scaled up shows it)."""
    from rtnote.errors import RtnoteError
    from rtnote.synth import Renderer

    cache = {}

    def new(soundfont, sr):
        try:
            return Renderer(soundfont, sr=sr)
        except RtnoteError as exc:
            require(False, str(exc))

    def make(soundfont="FluidR3_GM", sr=44100, fresh=False):
        if fresh:
            return new(soundfont, sr)
        if (soundfont, sr) not in cache:
            cache[soundfont, sr] = new(soundfont, sr)
        return cache[soundfont, sr]

    return make


@pytest.fixture(scope="session")
def melody(renderer_factory):
    """A rendered 24-note piano melody (FluidR3_GM, 44.1 kHz): (audio, sr, notes)."""
    from rtnote.synth import random_melody

    notes = random_melody(np.random.default_rng(7), 55, 84, 24, tempo_bpm=110)
    y = renderer_factory("FluidR3_GM").render(0, notes)
    return (0.5 * y / np.abs(y).max()).astype(np.float32), 44100, notes


@pytest.fixture(scope="session")
def melody_wav(melody, tmp_path_factory):
    import soundfile as sf

    y, sr, notes = melody
    path = tmp_path_factory.mktemp("audio") / "melody.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    return path, notes


@pytest.fixture(scope="session")
def jack_server():
    """A private JACK server (dummy driver, 48 kHz, 256-frame periods) for the session
    (tests/jackfix.py); skips/fails if jackd or JACK-Client is missing."""
    from jackfix import JackServer, jack_available

    reason = jack_available()
    require(reason is None, reason)
    server = JackServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def played_melody(jack_server, renderer_factory, tmp_path_factory):
    """One `rtnote listen --midi-out` run on a melody played through JACK (a PlayedRun),
    with the melody's audio and notes as ``y`` and ``notes``."""
    from jackfix import melody_at_48k, play_through_rtnote

    y, notes = melody_at_48k(renderer_factory)
    tmp = tmp_path_factory.mktemp("live")
    run = play_through_rtnote(jack_server, y, ["-o", str(tmp / "live.mid"),
                                               "--record", str(tmp / "heard.wav")], tmp_path=tmp)
    run.y, run.notes, run.midi_file, run.heard = y, notes, tmp / "live.mid", tmp / "heard.wav"
    return run
