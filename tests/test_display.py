"""The live view: what it shows (rich Console recording at 60 columns, no colour), the
plain and JSON line modes, and `rtnote demo` for real (a pipe and a tmux terminal)."""

import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from rich.console import Console

from conftest import require
from rtnote.events import FamilyUpdate, NoteOff, NoteOn
from rtnote.sinks.display import LineView, NoteState, ViewModel, piano_roll, plain_line

SR = 48000


class FakeStatus:
    def __init__(self, **changes):
        self.values = {"now_s": 3.0, "level_db": -18.0, "budget_ms": 2.67,
                       "compute_median_ms": 0.31, "compute_p99_ms": 1.25, "deadline_misses": 0,
                       "overflows": 2, "dropped_cycles": 3}
        self.values.update(changes)

    def snapshot(self):
        return dict(self.values)


def events():
    return [
        NoteOn(1, int(1.0 * SR), int(1.025 * SR), SR, 60, -3.0, 80, "keyboard", 0.72),
        NoteOff(1, int(1.0 * SR), int(1.5 * SR), int(1.51 * SR), SR, 60),
        NoteOn(2, int(2.0 * SR), int(2.03 * SR), SR, 61, 12.4, 96, "guitar", 0.6),
        FamilyUpdate(2, int(2.0 * SR), int(2.4 * SR), SR, "guitar", 0.91),
    ]


def render(state, status, width=60, color=False):
    console = Console(width=width, record=True, color_system="standard" if color else None,
                      force_terminal=color, file=io.StringIO(), legacy_windows=False)
    console.print(ViewModel(state, status, "listening: system (JACK) 48000 Hz"))
    return console.export_text(styles=False)


def test_view_shows_note_family_level_history_and_status_in_60_columns():
    state = NoteState()
    for e in events():
        state.handle(e)
    text = render(state, FakeStatus())
    lines = text.rstrip("\n").splitlines()
    assert all(len(line) <= 60 for line in lines), text
    assert "\x1b[" not in text  # no colour codes
    body = "\n".join(lines)
    assert "C#4" in body and "+12.4 cents" in body
    assert "guitar 91%" in body  # the family update is shown
    assert "-50" in body and "+50" in body  # the cents needle's scale
    assert "level" in body and "-18 dBFS" in body
    assert "C4" in body  # the piano roll keeps the first note
    assert "latency 27 / 30 ms (median / p95, 2 notes)" in body  # of 25 and 30 ms
    assert "compute 0.3 ms/hop, p99 1.2, budget 2.7, late 0" in body
    assert "overflows 2, dropped cycles 3, notes 2" in body


def test_view_without_notes_and_when_the_note_ends():
    state = NoteState()
    text = render(state, FakeStatus(now_s=0.0))
    assert "listening" in text and "(no notes yet)" in text
    for e in events():
        state.handle(e)
    state.handle(NoteOff(2, int(2.0 * SR), int(2.6 * SR), int(2.61 * SR), SR, 61))
    text = render(state, FakeStatus())
    assert "listening" in text and "C#4" in text  # history keeps it, the big note is gone


def test_view_in_colour_and_wide():
    state = NoteState()
    for e in events():
        state.handle(e)
    console = Console(width=100, color_system="truecolor", force_terminal=True,
                      file=io.StringIO())
    console.print(ViewModel(state, FakeStatus(deadline_misses=4)))
    out = console.file.getvalue()
    assert "\x1b[" in out and "late 4" in out


def test_piano_roll_rows_and_columns():
    notes = [{"pitch": 60, "onset_s": 0.0, "offset_s": 1.0, "id": 1},
             {"pitch": 64, "onset_s": 1.0, "offset_s": None, "id": 2}]
    rows = piano_roll(notes, now_s=2.0, width=25, span_s=2.0, ascii_only=True)
    assert [r[:5] for r in rows] == ["E4   ", "C4   "]
    assert rows[0][5:] == "." * 10 + "#" * 10 and rows[1][5:] == "#" * 10 + "." * 10


def test_plain_and_json_lines():
    lines = [plain_line(e) for e in events()]
    assert "on   C4" in lines[0] and "keyboard 72%" in lines[0] and "latency   25 ms" in lines[0]
    assert "off  C4" in lines[1]
    out = io.StringIO()
    view = LineView("json", out)
    view.start()
    for e in events():
        view.handle(e)
    view.stop()
    objs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [o["type"] for o in objs] == ["note_on", "note_off", "note_on", "family_update"]


def test_demo_runs_without_a_terminal_and_ends_by_itself(tmp_path):
    """README's first command: plain lines when piped, the summary, exit 0."""
    out = subprocess.run([sys.executable, "-m", "rtnote", "demo", "--stats",
                          str(tmp_path / "s.json")], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, TERM="dumb"))
    assert out.returncode == 0, out.stderr
    on_lines = [line for line in out.stdout.splitlines() if " on " in line]
    assert len(on_lines) >= 10
    assert "notes in" in out.stderr and "dropped cycles" in out.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["notes"] == len(on_lines) and stats["overflows"] == 0


def test_demo_in_a_60_column_terminal():
    """The real command in tmux: the panel fits 60 columns and shows its parts."""
    require(shutil.which("tmux") is not None, "tmux is not installed (apt-get install tmux)")
    session = f"rtnote-test-{os.getpid()}"
    cmd = f"{sys.executable} -m rtnote demo; echo EXIT=$?; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "60", "-y", "30", cmd],
                   check=True, env=dict(os.environ, TERM="xterm"))
    try:
        deadline = time.monotonic() + 90
        screen = ""
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if "EXIT=" in screen:
                break
            time.sleep(0.5)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "EXIT=0" in screen, screen
    assert all(len(line) <= 60 for line in screen.splitlines())
    for part in ("demo: piano", "level", "latency", "compute", "dropped cycles", "last:"):
        assert part in screen, screen
