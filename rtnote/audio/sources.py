"""Sources: where audio comes from. Each writes mono float32 blocks into a RingBuffer.

A source has ``sr`` [Hz], ``start(ring)``, ``stop()``, ``finished`` (a threading.Event set
when no more audio will come) and ``error`` (an RtnoteError that ended it, or None).
"""

import contextlib
import os
import sys
import tempfile
import threading
import time

import numpy as np

from rtnote.errors import AudioFileError, ConfigError


@contextlib.contextmanager
def c_stderr_captured():
    """Collect what C libraries print on this process's stderr (file descriptor 2) for the
    duration, while Python's ``sys.stderr`` still reaches the terminal.

    libsndfile's MP3 decoder (libmpg123) prints a line there for each damaged frame ("Note:
    Illegal Audio-MPEG-Header ..."); the command line turns them into one warning per file.
    It swaps a process-wide descriptor: for the command line, not for library code.

    Yields
    ------
    list of str
        Filled with the captured lines when the block ends.
    """
    lines = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no descriptor 2 (embedded, pythonw)
        yield lines
        return
    capture = tempfile.TemporaryFile()
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1,
                           encoding=getattr(python_stderr, "encoding", None) or "utf-8",
                           errors="backslashreplace")
    os.dup2(capture.fileno(), 2)
    try:
        yield lines
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        ours, sys.stderr = sys.stderr, python_stderr
        with contextlib.suppress(OSError, ValueError):
            ours.close()
        capture.seek(0)
        lines += [line for line in capture.read().decode(errors="replace").splitlines()
                  if line.strip()]
        capture.close()


def to_mono(block):
    """Mix a (frames, channels) block down to one float32 channel."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    if block.shape[1] == 1:
        return block[:, 0].astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


def _reason(exc):
    """libsndfile's reason, in words a user can act on."""
    reason = str(exc).split(":")[-1].strip() or type(exc).__name__
    if "not a regular file" in reason or "psf_fseek" in reason or "internal error" in reason:
        reason = f"damaged or truncated data; libsndfile says: {reason.rstrip('.')}"
    return reason


def open_audio(path):
    """Open an audio file for block reading; one clear AudioFileError if it cannot be read."""
    import soundfile

    if not os.path.exists(path):
        raise AudioFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    try:
        f = soundfile.SoundFile(str(path))
    except Exception as exc:  # noqa: BLE001 - libsndfile on damaged data: any error is one line
        raise AudioFileError(f"{path}: not a readable audio file ({_reason(exc)})") from None
    if f.frames == 0 or f.samplerate <= 0:
        f.close()
        raise AudioFileError(f"{path}: contains no audio samples")
    return f


class FileSource:
    """Reads an audio file block by block (any format libsndfile reads: WAV, FLAC, OGG, MP3),
    mixes it to mono and writes it into the ring buffer.

    Parameters
    ----------
    path : str or path-like
    blocksize : int > 0 [samples]
        Block size of each write, like an audio callback's.
    paced : bool
        True: write in real time, like a live device (a full ring drops blocks).
        False: as fast as the reader keeps up (waits for room, never drops).
    """

    def __init__(self, path, blocksize=1024, paced=False):
        if int(blocksize) < 1:
            raise ConfigError(f"block size must be >= 1 sample, not {blocksize}")
        self.path = path
        self.blocksize = int(blocksize)
        self.paced = paced
        self._file = open_audio(path)
        self.sr = int(self._file.samplerate)
        self.channels = self._file.channels
        self.frames = self._file.frames  # as the header says
        self.frames_read = 0
        self.nonfinite_samples = 0
        self.finished = threading.Event()
        self.error = None
        self._stop = threading.Event()
        self._thread = None

    @property
    def duration_s(self):
        return self.frames / self.sr

    def start(self, ring):
        self._thread = threading.Thread(target=self._run, args=(ring,), name="rtnote-file",
                                        daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._file.close()

    def _run(self, ring):
        t0 = time.perf_counter()
        try:
            while not self._stop.is_set():
                block = self._file.read(self.blocksize, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                mono = to_mono(block)
                bad = ~np.isfinite(mono)
                if bad.any():
                    self.nonfinite_samples += int(bad.sum())
                    mono = np.where(bad, np.float32(0.0), mono)
                if self.paced:
                    due = t0 + (self.frames_read + len(mono)) / self.sr
                    time.sleep(max(0.0, due - time.perf_counter()))
                    ring.write(mono)
                else:  # in pieces the ring can hold: a block larger than it never fits
                    for i in range(0, len(mono), ring.capacity):
                        piece = mono[i:i + ring.capacity]
                        while ring.free() < len(piece) and not self._stop.is_set():
                            time.sleep(0.0005)
                        ring.write(piece)
                self.frames_read += len(mono)
        except Exception as exc:  # noqa: BLE001 - a decoder error ends the file in one line
            self.error = AudioFileError(f"{self.path}: read failed after "
                                        f"{self.frames_read / self.sr:.2f} s ({_reason(exc)})")
        finally:
            self.finished.set()
