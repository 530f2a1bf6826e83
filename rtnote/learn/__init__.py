"""Instrument-family learning: data sets, features, augmentation, training and the model card.

Only ``rtnote train`` and ``rtnote evaluate`` import this package's training parts; the live
engine needs only :mod:`rtnote.classifier` and :mod:`rtnote.learn.features`.
"""

#: Sample rate [Hz] every clip is analyzed at (NSynth's rate).
SR = 16000
