"""A real JACK server (dummy driver) for the live and MIDI tests, and a test client that
plays audio into rtnote and receives its MIDI, both on JACK's frame clock.

The server, the client and the rtnote subprocess live in rtnote/bench/jackserver.py (shared
with ``rtnote bench --jack``); this file adds the melody and the one-call played run.

See ../shared/JACK.md (the project's docs/ copy: JACK notes): a private server per test
session, clients told not to start one, PortAudio initialised only in the rtnote
subprocesses (after the server is up).
"""

import os
import random
import signal
import time

import numpy as np

from rtnote.bench.jackserver import PERIOD, SR, JackClient, JackServer, Rtnote, jack_available  # noqa: F401


def melody_at_48k(renderer_factory, program=0, low=55, high=79, n_notes=16, seed=7):
    """A rendered melody (default: 16 piano notes, FluidR3_GM) at the server's rate:
    (audio, notes)."""
    from rtnote.synth import random_melody

    notes = random_melody(np.random.default_rng(seed), low, high, n_notes, tempo_bpm=110)
    y = renderer_factory("FluidR3_GM", sr=SR).render(program, notes)
    return (0.5 * y / np.abs(y).max()).astype(np.float32), notes


class PlayedRun:
    """What one ``rtnote listen`` run made of a melody played through JACK."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def play_through_rtnote(server, y, extra_args=(), tmp_path=None, stop=signal.SIGINT,
                        tail_s=1.0):
    """Run ``rtnote listen --view json --midi-out rtnote`` on ``server``, play ``y`` into it,
    stop it with ``stop`` after ``tail_s`` of silence; return a PlayedRun."""
    import json

    stats = os.path.join(str(tmp_path), f"stats-{random.randrange(1 << 30)}.json")
    args = ["listen", "--view", "json", "--midi-out", "rtnote", "--midi-api", "JACK",
            "--stats", stats, *extra_args]
    if "--model" not in extra_args:
        args += ["--model", "none"]  # families are not what these runs test
    client = JackClient(server)
    try:
        rt = Rtnote(args, server)
        try:
            client.connect_rtnote(midi_port="rtnote:rtnote")
            at = client.play(y)
            client.wait_frame(client.played_until() + int(tail_s * server.sr),
                              timeout=len(y) / server.sr + tail_s + 30)
        finally:
            rt.signal(stop)
            code = rt.wait()
        time.sleep(0.05)
        midi = client.note_messages()
        raw = list(client.midi)
        xruns = client.xruns
    finally:
        client.close()
    from rtnote.events import FamilyUpdate, NoteOff, NoteOn

    kinds = {"note_on": NoteOn, "note_off": NoteOff, "family_update": FamilyUpdate}
    events = []
    for line in rt.stdout.splitlines():
        obj = json.loads(line)
        obj.pop("time")
        events.append(kinds[obj["type"]](**obj))
    with open(stats) as f:
        run_stats = json.load(f)
    return PlayedRun(code=code, stderr=rt.stderr, events=events, midi=midi, raw_midi=raw,
                     start_frame=at, xruns=xruns, stats=run_stats, sr=server.sr)
