"""Faults on a real JACK server (dummy driver): the server stopping and coming back, the
MIDI receiver of the virtual port going away, SIGINT/SIGTERM at random moments of a played
melody. test_live_jack.py and test_midi_jack.py cover the server stopping, a signal after
the first note and an existing --midi-port vanishing; benchmarks/faults.py repeats all of
these many times and counts them.

Asserted: a clean exit with a clear line, every note_on ended at the receiver and "all notes
off" sent, no output half-written. Never a timing figure.
"""

import json
import signal
import time

import mido
import numpy as np
import pytest

from conftest import require

SR = 48000


def _server():
    from jackfix import JackServer, jack_available

    reason = jack_available()
    require(reason is None, reason)
    return JackServer().start()


def ended_at_receiver(messages, raw, xruns=0):
    """Every note_on at the receiver has a later note_off on its channel and key, and
    "all notes off" (CC 123) came on the channels used. (A cycle the server dropped loses
    the MIDI sent in it: with ``xruns`` counted, all notes off alone must end the notes.)"""
    if messages:
        assert any(d[0] & 0xF0 == 0xB0 and d[1] == 123 for _, d in raw), raw
    if xruns:
        return
    for i, (_, kind, ch, note, _) in enumerate(messages):
        if kind == "on":
            assert any(k == "off" and c == ch and n == note for _, k, c, n, _ in messages[i + 1:]), \
                messages


def test_server_stopping_and_coming_back(tmp_path):
    """The server stops mid-note and a new one comes up under the same name at once: rtnote
    ends with one clear line (it does not hang on the new server), writes no half file, and
    a new rtnote runs on the new server."""
    from jackfix import JackClient, Rtnote

    server = _server()
    try:
        rt = Rtnote(["listen", "--view", "none", "--model", "none", "--midi-out", "--midi-api",
                     "jack", "-o", str(tmp_path / "x.mid"), "--events", str(tmp_path / "x.jsonl")],
                    server)
        client = JackClient(server)
        client.connect_rtnote(midi_port="rtnote:rtnote")
        t = np.arange(3 * SR) / SR
        client.play((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), delay_s=0.05)
        time.sleep(0.6)
        client.close()
        server.stop()
        server.start()  # the same name: a restarted server
        code = rt.wait(30)
        assert code == 1, rt.stderr
        assert rt.stderr.count("rtnote: error:") == 1 and "audio input stopped" in rt.stderr
        assert "Traceback" not in rt.stderr
        assert all(line.startswith("rtnote: ") for line in rt.stderr.splitlines()), rt.stderr
        assert not list(tmp_path.glob(".rtnote-*"))
        if (tmp_path / "x.mid").exists():
            mido.MidiFile(tmp_path / "x.mid")
        again = Rtnote(["listen", "--view", "none", "--model", "none"], server)
        time.sleep(0.3)
        again.signal(signal.SIGINT)
        assert again.wait(30) == 0, again.stderr
    finally:
        server.stop()


def test_receiver_of_the_virtual_port_going_away_mid_note(jack_server):
    """A DAW disconnects from rtnote's virtual port while a note sounds and another
    connects: rtnote carries on, and at SIGINT the new receiver gets the note_off and "all
    notes off"."""
    from jackfix import JackClient, Rtnote

    player = JackClient(jack_server, name="rtnote-player")
    second = None
    try:
        rt = Rtnote(["listen", "--view", "none", "--model", "none", "--midi-out", "--midi-api",
                     "jack"], jack_server)
        try:
            player.connect_rtnote(midi_port="rtnote:rtnote")
            t = np.arange(6 * SR) / SR
            player.play((0.3 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t / 0.005))
                        .astype(np.float32), delay_s=0.05)
            deadline = time.monotonic() + 6
            while not any(k == "on" for _, k, *_ in player.note_messages()):
                assert time.monotonic() < deadline, "no note_on arrived"
                time.sleep(0.01)
            player.client.disconnect("rtnote:rtnote", player.midi_in)  # the DAW goes away
            time.sleep(0.3)
            second = JackClient(jack_server, name="rtnote-daw")
            second.client.connect("rtnote:rtnote", second.midi_in)
            time.sleep(0.3)
        finally:
            rt.signal(signal.SIGINT)
            code = rt.wait(30)
        time.sleep(0.1)
        assert code == 0, rt.stderr
        assert "rtnote: error" not in rt.stderr and "stopped by SIGINT" in rt.stderr
        raw = list(second.midi)
        assert any(d[0] == 0x80 and d[1] == 69 for _, d in raw), raw  # the sounding A4 ended
        assert any(d[0] == 0xB0 and d[1] == 123 for _, d in raw), raw
    finally:
        player.close()
        if second is not None:
            second.close()


@pytest.mark.parametrize("seed", range(3))
def test_signals_at_random_moments_of_a_played_melody(jack_server, renderer_factory, tmp_path,
                                                      seed):
    from jackfix import JackClient, Rtnote, melody_at_48k

    y, _ = melody_at_48k(renderer_factory, n_notes=8, seed=seed)
    rng = np.random.default_rng(seed)
    sig = (signal.SIGINT, signal.SIGTERM)[seed % 2]
    delay = float(rng.uniform(0.0, min(3.0, len(y) / SR)))
    outputs = ["-o", str(tmp_path / "x.mid"), "--events", str(tmp_path / "x.jsonl"),
               "--stats", str(tmp_path / "x.json")]
    client = JackClient(jack_server)
    try:
        rt = Rtnote(["listen", "--view", "none", "--model", "none", "--midi-out", "--midi-api",
                     "jack", *outputs], jack_server)
        try:
            client.connect_rtnote(midi_port="rtnote:rtnote")
            client.play(y, delay_s=0.05)
            time.sleep(delay)
        finally:
            rt.signal(sig)
            code = rt.wait(30)
        time.sleep(0.1)
        messages, raw, xruns = client.note_messages(), list(client.midi), client.xruns
    finally:
        client.close()
    assert code == 0, rt.stderr
    assert f"stopped by {sig.name}" in rt.stderr and "Traceback" not in rt.stderr
    ended_at_receiver(messages, raw, xruns)
    assert not list(tmp_path.glob(".rtnote-*"))
    stats = json.loads((tmp_path / "x.json").read_text())
    events = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    ons = [e for e in events if e["type"] == "note_on"]
    assert {e["note_id"] for e in ons} == {e["note_id"] for e in events if e["type"] == "note_off"}
    assert stats["stopped_by"] == sig.name and stats["notes"] == len(ons)
    mido.MidiFile(tmp_path / "x.mid")
    # the receiver got exactly the notes the events file holds, in order
    assert [n for _, k, _, n, _ in messages if k == "on"] == [e["pitch"] for e in ons]
