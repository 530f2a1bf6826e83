"""Two-note transitions with no attack between them, on the VALIDATION soundfont (TimGM6mb).

    python benchmarks/legato.py

Writes benchmarks/out/legato.json and the "legato" section of benchmarks/RESULTS.md.
Each case is two notes of one program from a fresh synth (no state from earlier renders),
44.1 kHz, peak 0.5:
- octave slurs, down and up: the first note 0.25-0.9 s, the second 0.9-1.6 s, velocity 90
  then 100 (no gap: a sustained instrument's new note has no attack the flux sees);
- overlaps: the first note 0.25-0.45 s, the second 0.55-1.2 s, the first one's release
  still sounding as the second swells in.
A case is *found* when a final note_on (not replaced later) of the second pitch follows
one of the first, and *on time* when its onset is within 50 ms of the truth; extra notes
are final note_ons of any other pitch before the end of the second note.
"""

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from rich.progress import track  # noqa: E402

from rtnote.analysis.analyzer import Analyzer  # noqa: E402
from rtnote.bench.measure import note_ons_kept  # noqa: E402
from rtnote.families import program_family  # noqa: E402
from rtnote.synth import VALIDATION_SOUNDFONT, Note, Renderer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from accuracy import write_results_section  # noqa: E402

SR = 44100
PROGRAMS = (48, 49, 50, 51, 52, 60, 68, 71, 73, 82)
DOWN = ((54, 42), (75, 63), (67, 55), (80, 68), (62, 50))
KINDS = {
    "octave down": ([(a, b) for a, b in DOWN], (0.25, 0.9), (0.9, 1.6)),
    "octave up": ([(b, a) for a, b in DOWN], (0.25, 0.9), (0.9, 1.6)),
    "over a release": ([(71, 78), (64, 71), (60, 64), (67, 60)], (0.25, 0.45), (0.55, 1.2)),
}


def final_note_ons(program, first, second, span1, span2):
    """Final note_ons (none replaced later) of the two notes played by ``program``, by onset."""
    renderer = Renderer(VALIDATION_SOUNDFONT, sr=SR)
    try:
        y = renderer.render(program, [Note(first, *span1, 90), Note(second, *span2, 100)],
                            duration_s=span2[1] + 0.4)
    finally:
        renderer.close()
    analyzer = Analyzer(SR)
    events = analyzer.process((0.5 * y / np.abs(y).max()).astype(np.float32)) + analyzer.finish()
    return [on for on, _ in note_ons_kept(events)]


def score_case(program, first, second, span1, span2):
    ons = [e for e in final_note_ons(program, first, second, span1, span2)
           if e.onset_sample / SR < span2[1]]
    pitches = [e.pitch for e in ons]
    later = ons[pitches.index(first) + 1:] if first in pitches else []
    hit = next((e for e in later if e.pitch == second), None)
    error_s = None if hit is None else hit.onset_sample / SR - span2[0]
    return {"program": program, "family": program_family(program), "first": first,
            "second": second, "found": hit is not None,
            "on_time": error_s is not None and abs(error_s) <= 0.05,
            "onset_error_ms": None if error_s is None else round(1e3 * error_s, 1),
            "extra": sum(e.pitch not in (first, second) for e in ons)}


def main():
    cases = [(kind, program, a, b) for kind, (pairs, _, _) in KINDS.items()
             for program in PROGRAMS for a, b in pairs]
    results = []
    for kind, program, a, b in track(cases, description="two-note transitions"):
        _, span1, span2 = KINDS[kind]
        results.append({"kind": kind, **score_case(program, a, b, span1, span2)})
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "legato.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = ["## Two-note transitions without an attack (`python benchmarks/legato.py`)", "",
             f"TimGM6mb programs {', '.join(map(str, PROGRAMS))}, a fresh synth per case "
             "(see the script's docstring). Found: the second note reported after the first; "
             "on time: within 50 ms of its onset.", "",
             "| transition | cases | found | on time | median onset error (found) | extra notes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind in KINDS:
        rows = [r for r in results if r["kind"] == kind]
        errors = [r["onset_error_ms"] for r in rows if r["found"]]
        median = f"{np.median(errors):.0f} ms" if errors else "n/a"
        lines.append(f"| {kind} | {len(rows)} | {sum(r['found'] for r in rows)} | "
                     f"{sum(r['on_time'] for r in rows)} | {median} | "
                     f"{sum(r['extra'] for r in rows)} |")
    missed = [f"{r['program']}: {r['first']}->{r['second']}" for r in results if not r["found"]]
    lines += ["", "Not found: " + (", ".join(missed) if missed else "none") + "."]
    write_results_section("legato", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
