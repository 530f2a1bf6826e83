"""rtnote: real-time note and instrument-family recognition.

The engine (``rtnote.engine``) runs a source (a file or a live device) through the streaming
analyzer (``rtnote.analysis``) into sinks (terminal, MIDI, files). Events are described in
``rtnote.events``.
"""

__version__ = "0.1.0"

from rtnote.analysis.analyzer import Analyzer, Settings  # noqa: E402
from rtnote.transcribe import transcribe_file  # noqa: E402

__all__ = ["Analyzer", "Settings", "transcribe_file", "__version__"]
