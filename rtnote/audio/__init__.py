"""Audio in: the ring buffer between a source's callback and the engine's worker."""

from rtnote.audio.ringbuffer import RingBuffer

__all__ = ["RingBuffer"]
