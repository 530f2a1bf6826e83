"""Tables (rich), JSON and plots (matplotlib, PNG) of bench results.

Every latency table carries its run's health (dropped cycles, overflows, deadline misses) in
its caption, and every plot in its title: the figures come from
:class:`rtnote.bench.measure.LatencyFigure`, which will not give a bare number otherwise.
"""

import json
import os

from rich.table import Table

from rtnote.sinks.files import atomic_write


def _ms(x, digits=1):
    return "--" if x is None else f"{x:.{digits}f} ms"


def health_caption(health):
    """Caption under a latency table: the run's counters, loud when any is not 0."""
    if health.clean:
        return f"clean run: {health.describe()}"
    return f"[bold red]NOT A CLEAN RUN: {health.describe()}[/] -- latency figures above include their effect"


def latency_table(title, figures, health):
    """A table of LatencyFigures (one row each), with the run's health as its caption.

    Parameters
    ----------
    title : str
    figures : dict of {str: LatencyFigure}
    health : rtnote.bench.measure.Health
    """
    table = Table(title=title, caption=health_caption(health), title_justify="left",
                  caption_justify="left")
    table.add_column("")
    for col in ("notes", "median", "p95", "max"):
        table.add_column(col, justify="right")
    mark = "" if health.clean else " [red]*[/]"
    for name, fig in figures.items():
        shown = dict(shown_beside=True)  # the caption shows the health
        table.add_row(name, str(fig.n), _ms(fig.number("median", **shown)) + mark,
                      _ms(fig.number("p95", **shown)) + mark, _ms(fig.number("max", **shown)) + mark)
    return table


def bench_tables(result):
    """[rich Table] for a :class:`rtnote.bench.measure.BenchResult`."""
    d = result.as_dict()
    run = result.run
    figures = {"all notes": result.latency}
    figures.update(result.by_register())
    figures["first note_on (before corrections)"] = result.first_latency()
    mode = "paced in real time" if run.paced else "as fast as possible"
    title = (f"algorithmic latency (decision sample - true onset), latency setting "
             f"'{result.settings.latency}'")
    tables = [latency_table(title, figures, result.health)]
    notes = d["notes"]
    comp = d["compute"]
    summary = Table(title=f"rtnote bench: {result.workload.name}, {mode}", title_justify="left",
                    show_header=False)
    summary.add_column("what")
    summary.add_column("value")
    summary.add_row("notes", f"{notes['reference']} reference, {notes['reported']} reported, "
                    f"{notes['matched']} matched ({notes['matched_by']}), "
                    f"[bold]{notes['missed']} missed, {notes['false']} false[/], "
                    f"F1 {notes['f1']:.3f}; {notes['corrected']} matched notes got their pitch "
                    "from a correction")
    if comp.get("hops"):
        summary.add_row("compute per hop", f"median {comp['median_ms']:.3f} ms, p99 "
                        f"{comp['p99_ms']:.3f} ms ({100 * comp['p99_of_budget']:.0f}% of the "
                        f"budget), max {comp['max_ms']:.2f} ms; budget {comp['budget_ms']:.2f} ms "
                        f"(one hop of {d['settings']['hop_samples']} samples); "
                        f"{comp['hops_per_step']:.1f} hops per worker step")
        summary.add_row("deadline misses", f"{comp['deadline_misses']} of {comp['steps']} worker steps")
    summary.add_row("ring overflows", f"{d['overflows']} blocks ({d['dropped_samples']} samples)")
    if d["throughput_x_realtime"] is not None:
        summary.add_row("throughput", f"{d['throughput_x_realtime']:.1f}x real time "
                        f"({d['audio_s']:.1f} s of audio in {d['wall_s']:.2f} s; compute load "
                        f"{100 * comp['load']:.1f}%)")
    else:
        summary.add_row("throughput", f"paced: {d['audio_s']:.1f} s in {d['wall_s']:.1f} s; compute "
                        f"load {100 * comp['load']:.1f}% of real time")
    mem = d["memory"]
    summary.add_row("peak memory", f"{mem['peak_rss_mb']:.0f} MiB resident (peak of the "
                    f"{'run' if mem['scope'] == 'run' else 'whole process'}; "
                    f"{mem['rss_before_mb']:.0f} MiB before it)")
    summary.add_row("families", result.classifier)
    tables.insert(0, summary)
    return tables


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as f:
        f.write(json.dumps(obj, indent=1) + "\n")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bench_plot(result, path):
    """PNG: latency histogram by register (left) and compute per hop over the run (right),
    the run's health in the title."""
    import numpy as np

    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    registers = result.by_register() or {"all notes": result.latency}
    top = max([f.number("max", shown_beside=True) or 0 for f in registers.values()] + [10])
    bins = np.linspace(0, top * 1.05, 40)
    for name, fig_ in registers.items():
        if fig_.n:
            ax1.hist(fig_.latency_s * 1e3, bins=bins, alpha=0.55,
                     label=f"{name}: median {fig_.number('median', shown_beside=True):.1f} ms (n={fig_.n})")
    ax1.set_xlabel("algorithmic latency [ms] (decision sample - true onset)")
    ax1.set_ylabel("notes")
    ax1.legend(fontsize=8)
    per_hop = result.run.compute.per_hop_s * 1e3
    hop_s = result.run.compute.hop_s
    t = np.arange(len(per_hop)) * hop_s
    step = max(1, len(per_hop) // 20000)
    ax2.plot(t[::step], per_hop[::step], lw=0.5, color="tab:blue", label="compute per hop")
    ax2.axhline(hop_s * 1e3, color="tab:red", lw=1, label=f"budget {hop_s * 1e3:.2f} ms (one hop)")
    ax2.set_yscale("log")
    ax2.set_xlabel("audio time [s]")
    ax2.set_ylabel("compute per hop [ms]")
    hops = result.run.compute_summary().get("hops_per_step") or 1
    ax2.set_title(f"{'paced' if result.run.paced else 'fast'}: {hops:.1f} hops per worker step",
                  fontsize=9)
    ax2.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"rtnote bench, latency '{result.settings.latency}': {result.workload.name}\n"
                 f"{'clean run' if result.health.clean else 'NOT CLEAN'}: {result.health.describe()}",
                 fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path):
    plt = _pyplot()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _pct(x):
    return "--" if x is None else f"{100 * x:.1f}%"


def sweep_table(points, workload_name):
    """Rich table of a latency sweep: one row per preset, health in the caption."""
    table = Table(title=f"latency setting vs accuracy: {workload_name}", title_justify="left",
                  caption_justify="left")
    for col in ("setting", "median latency", "p95", "first note_on, median", "note F1",
                "low-note pitch", "octave errors", "run health"):
        table.add_column(col, justify="right" if col not in ("setting", "run health") else "left")
    unclean = [p for p in points if not p.result.health.clean]
    for p in points:
        lat, low = p.result.latency, p.low_notes
        table.add_row(p.preset, _ms(lat.number("median", shown_beside=True)),
                      _ms(lat.number("p95", shown_beside=True)),
                      _ms(p.result.first_latency().number("median", shown_beside=True)),
                      f"{p.result.match.f1:.3f}",
                      f"{_pct(low['accuracy'])} ({low['correct']}/{low['found']})",
                      str(low["octave_errors"]),
                      p.result.health.describe() if not p.result.health.clean else "clean")
    below = points[0].low_notes["below_midi"] if points else 48
    table.caption = (f"low-note pitch: reference notes below MIDI {below} (C3) whose onset was "
                     "found, reported with the right pitch. Latency: decision sample of the "
                     "note_on with the right pitch - true onset; 'first note_on': the first "
                     "note_on sent at that onset, whatever its pitch.")
    if unclean:
        table.caption += " [bold red]Some runs were not clean (see run health).[/]"
    return table


def sweep_plot(points, path, workload_name):
    """PNG: note F1 and low-note pitch accuracy against median latency, one point a preset."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    points = sorted(points, key=lambda p: p.result.latency.number("median", shown_beside=True) or 0)
    xs = [p.result.latency.number("median", shown_beside=True) for p in points]
    f1 = [p.result.match.f1 for p in points]
    low = [p.low_notes["accuracy"] for p in points]
    ax.plot(xs, f1, "o-", label="note F1 (onset 50 ms, pitch 50 cents)")
    ax.plot(xs, [v if v is not None else float("nan") for v in low], "s--",
            label=f"low-note pitch accuracy (below MIDI {points[0].low_notes['below_midi']})")
    for x, y, p in zip(xs, low, points):
        if y is not None:
            ax.annotate(f"{100 * y:.0f}%", (x, y), textcoords="offset points", xytext=(4, -12),
                        fontsize=7)
    for x, y, p in zip(xs, f1, points):
        ax.annotate(p.preset, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xlabel("median algorithmic latency [ms]")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    health = "\n".join(f"{p.preset}: {p.result.health.describe()}" for p in points
                        if not p.result.health.clean) or "all runs clean"
    ax.set_title(f"rtnote latency settings: {workload_name}\n{health}", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def jack_tables(runs):
    """Rich tables of end-to-end runs: per run, its latencies (health in the caption); then
    the claim 'end-to-end median <= algorithmic median + one period' per period."""
    tables = []
    for run in runs:
        where = (f"server started here, dummy driver, {'--realtime' if run.realtime else '--no-realtime'}"
                 if not run.external else f"server {run.server}")
        title = (f"end to end through JACK: -p {run.period} ({run.period_ms:.2f} ms) at {run.sr} Hz, "
                 f"{where}; {run.workload.name}")
        figures = {"end to end, all notes (MIDI frame - onset frame)": run.end_to_end,
                   "end to end, exact-split notes": run.end_to_end_exact,
                   "algorithmic, exact-split notes (decision - onset)": run.algorithmic}
        table = latency_table(title, figures, run.health)
        if run.file_algorithmic is not None:
            f = run.file_algorithmic
            label = "algorithmic, same audio as a file (no server)"
            if not f.health.clean:
                label += f" [red](that run: {f.health.describe()})[/]"
            table.add_row(label, str(f.n),
                          *(_ms(f.number(s, shown_beside=True)) for s in ("median", "p95", "max")))
        t = run.transport_summary()
        if t:
            table.add_row("transport (end to end - algorithmic)", str(t["notes"]),
                          f"{t['median_frames']:.0f} fr", "", f"{t['max_frames']} fr")
        tables.append(table)
        m = run.match
        notes = Table(show_header=False)
        notes.add_column("what")
        notes.add_column("value")
        notes.add_row("notes", f"{m.n_ref} played, {m.n_est} reported, {m.matched} matched, "
                      f"{m.missed} missed, {m.false_notes} false (F1 {m.f1:.3f})")
        al = run.alignment or {}
        if al:
            notes.add_row("stream alignment", f"{al['anchors']} of {al['audio_sounds_after_silence']} "
                          "sounds after silence found in rtnote's stream, "
                          f"{al['sounds_without_loss']} of them lost no input frame (their notes "
                          f"are the exact-split ones); {al['input_frames_lost']} input frames "
                          "lost between sounds")
        comp = run.rtnote_stats.get("compute") or {}
        if comp.get("hops"):
            notes.add_row("compute per hop (live)", f"median {comp['median_ms']:.3f} ms, p99 "
                          f"{comp['p99_ms']:.3f} ms, max {comp['max_ms']:.2f} ms; budget "
                          f"{comp['budget_ms']:.2f} ms")
        if run.error:
            notes.add_row("[red]error[/]", run.error)
        tables.append(notes)
    claim = Table(title="end-to-end median <= algorithmic median + one JACK period? "
                        "(exact-split notes)", title_justify="left")
    for col in ("period", "notes", "algorithmic median", "+ one period", "end-to-end median",
                "holds", "run health"):
        claim.add_column(col, justify="right" if col not in ("holds", "run health") else "left")
    for run in runs:
        c = run.claim()
        if c is None:
            claim.add_row(str(run.period), "0", "--", "--", "--", "no exact-split notes",
                          run.health.describe() if run.health else "--")
            continue
        holds = "[green]yes[/]" if c["holds"] else "[bold red]NO[/]"
        health = "clean" if run.health.clean else f"[bold red]{run.health.describe()}[/]"
        claim.add_row(f"{run.period} fr ({c['period_ms']:.2f} ms)", str(c["notes"]),
                      _ms(c["algorithmic_median_ms"]),
                      _ms(c["bound_ms"]), _ms(c["e2e_median_ms"]), holds, health)
    tables.append(claim)
    return tables


def jack_plot(runs, path):
    """PNG: per period, end-to-end against algorithmic latency of each note (with the
    'one period above' line) and the transport histogram."""
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        alg = run.algorithmic.latency_s * 1e3
        e2e = run.end_to_end_exact.latency_s * 1e3
        axes[0].scatter(alg, e2e, s=10, label=f"-p {run.period}")
        t = run.transport_frames / run.sr * 1e3
        axes[1].hist(t, bins=30, alpha=0.55, label=f"-p {run.period} ({run.period_ms:.2f} ms)")
        axes[1].axvline(run.period_ms, ls="--", lw=1)
    top = max([float(np.max(r.end_to_end.latency_s)) * 1e3 for r in runs if r.end_to_end.n] + [10])
    axes[0].plot([0, top], [0, top], color="grey", lw=0.8, label="end to end = algorithmic")
    axes[0].set_xlabel("algorithmic latency [ms] (notes whose split is exact)")
    axes[0].set_ylabel("end-to-end latency [ms] (MIDI frame - onset frame)")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("transport: end to end - algorithmic [ms] (dashed: one period)")
    axes[1].set_ylabel("notes")
    axes[1].legend(fontsize=8)
    health = "\n".join(f"-p {r.period}: {r.health.describe()}" for r in runs)
    fig.suptitle(f"rtnote bench --jack: {runs[0].workload.name}\n{health}", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
