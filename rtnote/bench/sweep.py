"""The latency presets against accuracy: for each setting, the median algorithmic latency,
note F1 and low-note pitch accuracy on the same workload, so a user can pick one."""

from dataclasses import dataclass, replace

from rtnote.bench.measure import bench, low_note_pitch


@dataclass
class SweepPoint:
    """One latency preset measured: its BenchResult and its low-note pitch accuracy."""

    preset: str
    result: object
    low_notes: dict

    def as_dict(self):
        r = self.result
        return {"latency_setting": self.preset, "f1": r.match.f1,
                "precision": r.match.precision, "recall": r.match.recall,
                "latency": r.latency.as_dict(),
                "first_note_on_latency": r.first_latency().as_dict(),
                "latency_by_register": {k: v.as_dict() for k, v in r.by_register().items()},
                "low_note_pitch": self.low_notes, "health": r.health.as_dict(),
                "compute": r.run.compute_summary()}


def sweep(workload, presets, settings=None, classifier=None, classifier_name="none",
          on_step=None):
    """Run ``workload`` through the engine (as fast as possible) once per latency preset.

    Parameters
    ----------
    workload : rtnote.bench.workload.Workload
    presets : sequence of str
        Names from rtnote.analysis.notes.LATENCY_PRESETS.
    settings : rtnote.analysis.analyzer.Settings or None
        The other settings (tuning, silence level), kept for every preset.
    on_step : callable(preset) or None
        Called before each run.

    Returns
    -------
    list of SweepPoint
    """
    from rtnote.analysis.analyzer import Settings

    settings = settings or Settings()
    points = []
    for preset in presets:
        if on_step:
            on_step(preset)
        result = bench(workload, replace(settings, latency=preset).validate(), classifier,
                       classifier_name=classifier_name)
        low = low_note_pitch(workload.notes, result.run.events, workload.sr)
        points.append(SweepPoint(preset, result, low))
    return points
