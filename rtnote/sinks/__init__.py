"""Sinks subscribe to events: ``handle(event)`` for each, ``close()`` at the end."""

from rtnote.sinks.files import EventList, JsonLinesSink, MidiFileSink, atomic_write

__all__ = ["EventList", "JsonLinesSink", "MidiFileSink", "atomic_write"]
