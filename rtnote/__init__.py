"""rtnote: real-time note and instrument-family recognition.

The engine (``rtnote.engine``) runs a source (a file or a live device) through the streaming
analyzer (``rtnote.analysis``) into sinks (terminal, MIDI, files). Events are described in
``rtnote.events``.

``Analyzer``, ``Settings`` and ``transcribe_file`` are imported on first use, so that the
``rtnote`` command starts (and can take Ctrl-C or SIGTERM cleanly) before NumPy and SciPy
are loaded.
"""

__version__ = "0.1.0"

__all__ = ["Analyzer", "Settings", "transcribe_file", "__version__"]


def __getattr__(name):
    if name in ("Analyzer", "Settings"):
        from rtnote.analysis import analyzer

        return getattr(analyzer, name)
    if name == "transcribe_file":
        from rtnote.transcribe import transcribe_file

        return transcribe_file
    raise AttributeError(f"module 'rtnote' has no attribute {name!r}")
