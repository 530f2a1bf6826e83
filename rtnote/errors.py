"""One small exception family (librosa style): every error a user can cause is an RtnoteError."""


class RtnoteError(Exception):
    """Base class: a message fit for one line on the terminal."""


class ConfigError(RtnoteError, ValueError):
    """A setting is out of range; the message repeats the value received."""


class AudioFileError(RtnoteError):
    """An audio file is missing, empty, truncated or not audio."""


class DeviceError(RtnoteError):
    """An audio device or server is missing, busy or vanished."""


class MidiPortError(RtnoteError):
    """A MIDI port cannot be opened, or vanished."""


class ModelError(RtnoteError):
    """A model file is missing, corrupt, unvouched or from other library versions."""


class OutputError(RtnoteError):
    """An output file (MIDI, JSON lines, stats) cannot be written where it was asked for."""
