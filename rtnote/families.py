"""NSynth's eleven instrument families, their General MIDI programs and MIDI channels.

Programs are 0-based General MIDI numbers (DESIGN.md section 5).
"""

FAMILIES = (
    "bass", "brass", "flute", "guitar", "keyboard", "mallet",
    "organ", "reed", "string", "synth_lead", "vocal",
)

#: GM programs (0-based) that stand for each family when rendering training data.
FAMILY_PROGRAMS = {
    "keyboard": range(0, 8),
    "mallet": range(8, 16),
    "organ": range(16, 24),
    "guitar": range(24, 32),
    "bass": range(32, 40),
    "string": range(40, 52),
    "vocal": range(52, 55),
    "brass": range(56, 64),
    "reed": range(64, 72),
    "flute": range(72, 80),
    "synth_lead": range(80, 88),
}

#: One representative GM program per family (sent as a program change per channel).
REPRESENTATIVE_PROGRAM = {
    "keyboard": 0, "mallet": 11, "organ": 19, "guitar": 24, "bass": 33, "string": 48,
    "vocal": 52, "brass": 61, "reed": 65, "flute": 73, "synth_lead": 80,
}

#: 0-based MIDI channel per family for --channel-per-family; channel index 9 (drums) skipped.
FAMILY_CHANNEL = {
    "keyboard": 0, "mallet": 1, "organ": 2, "guitar": 3, "bass": 4, "string": 5,
    "vocal": 6, "brass": 7, "reed": 8, "flute": 10, "synth_lead": 11,
}
#: Channel for notes whose family is unknown (no model loaded).
UNKNOWN_CHANNEL = 12

#: Programs whose sound is an octave (or more) away from the written note in the GM banks.
OCTAVE_AMBIGUOUS_PROGRAMS = frozenset({16, 17, 18, 19, 31, 47, 86})


def program_family(program):
    """Family name of a 0-based GM program, or None if it is not used (55, 88-127)."""
    for family, programs in FAMILY_PROGRAMS.items():
        if program in programs:
            return family
    return None


#: Sensible playing range [MIDI notes, inclusive] of each family, and of programs that differ.
FAMILY_RANGE = {
    "keyboard": (28, 103), "mallet": (53, 96), "organ": (36, 96), "guitar": (40, 86),
    "bass": (28, 60), "string": (36, 96), "vocal": (48, 84), "brass": (40, 84),
    "reed": (44, 91), "flute": (60, 96), "synth_lead": (36, 96),
}
PROGRAM_RANGE = {
    8: (60, 103), 9: (79, 103), 11: (53, 89), 12: (45, 96), 13: (65, 103), 14: (60, 77),
    40: (55, 100), 41: (48, 88), 42: (36, 76), 43: (28, 55),
    56: (54, 86), 57: (40, 72), 58: (28, 58), 59: (54, 84), 60: (41, 77),
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69),
    68: (58, 91), 69: (52, 81), 70: (34, 72), 71: (50, 91), 72: (74, 103), 73: (60, 96),
}


def program_range(program):
    """Sensible (lowest, highest) MIDI note of a 0-based GM program."""
    return PROGRAM_RANGE.get(program) or FAMILY_RANGE[program_family(program)]
