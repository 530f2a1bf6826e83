"""``rtnote bench``: latency, compute and accuracy of the real engine on audio whose note
onsets are known exactly.

- :mod:`rtnote.bench.workload` -- audio with known onsets: rendered melodies, a tone-click
  track, or a user's file with a MIDI/CSV of its onsets.
- :mod:`rtnote.bench.measure` -- runs a workload through Engine + FileSource and measures
  algorithmic latency (decision sample - true onset sample), missed/false notes, compute per
  hop, overflows, throughput and memory; the rule that no latency figure leaves a run
  without its dropped cycles, overflows and deadline misses beside it.
- :mod:`rtnote.bench.endtoend` -- the same through a real JACK server: audio frame of each
  onset -> frame its MIDI note arrives, on JACK's frame clock.
- :mod:`rtnote.bench.sweep` -- the latency presets against accuracy.
- :mod:`rtnote.bench.report` -- tables, JSON and plots.
- :mod:`rtnote.bench.jackserver` -- a private JACK server and a player/receiver client
  (shared with the tests).
"""
