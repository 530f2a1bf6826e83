"""File mode: the offline twin of ``listen``: a file source through the same engine."""

from dataclasses import dataclass

from rtnote.analysis.analyzer import Analyzer, Settings
from rtnote.audio.sources import FileSource
from rtnote.engine import Engine
from rtnote.errors import AudioFileError, ConfigError
from rtnote.sinks import EventList, JsonLinesSink, MidiFileSink


@dataclass
class FileResult:
    """What transcribing one file gave."""

    path: str
    events: list
    duration_s: float
    sr: int
    compute: dict
    nonfinite_samples: int = 0


def transcribe_file(path, midi_path=None, events_path=None, settings=Settings(),
                    family_classifier=None, blocksize=4096, paced=False, on_progress=None):
    """Transcribe one audio file; write a MIDI file and/or JSON lines if paths are given.

    Parameters
    ----------
    path : str or path-like
    midi_path, events_path : str or None
        Outputs, written only when the whole file was analyzed.
    settings : rtnote.analysis.analyzer.Settings
    family_classifier : see rtnote.analysis.family
    blocksize : int > 0 [samples]
        Source block size (events do not depend on it).
    paced : bool
        Feed the file in real time, like a live device.
    on_progress : callable(frames_read, frames_total) or None

    Returns
    -------
    FileResult

    Raises
    ------
    rtnote.errors.RtnoteError
        For unreadable files and bad settings (one line, fit for the terminal).
    """
    source = FileSource(path, blocksize=blocksize, paced=paced)
    try:
        analyzer = Analyzer(source.sr, settings, family_classifier)
    except ConfigError as exc:  # a header's rate rtnote cannot analyze: say which file
        source.stop()
        raise AudioFileError(f"{path}: {exc}") from None
    collected = EventList()
    engine = Engine(analyzer, [collected])
    engine.run(source, on_progress and (lambda: on_progress(source.frames_read, source.frames)))
    for sink_type, out in ((MidiFileSink, midi_path), (JsonLinesSink, events_path)):
        if out is not None:
            sink = sink_type(out)
            sink.events = collected.events
            sink.close()
    return FileResult(str(path), collected.events, source.frames_read / source.sr, source.sr,
                      engine.stats.summary(), source.nonfinite_samples)
