"""The engine end to end on files: same events whatever the block size, schema, sinks."""

import json

import mido
import numpy as np
import pytest

from rtnote.analysis.analyzer import Analyzer
from rtnote.evaluation import score_notes
from rtnote.events import NoteOff, NoteOn, event_to_dict, load_schema
from rtnote.transcribe import transcribe_file


@pytest.mark.parametrize("blocksize", [32, 256, 1000, 4096])
def test_events_do_not_depend_on_block_size(melody_wav, blocksize):
    path, _ = melody_wav
    reference = transcribe_file(path, blocksize=512).events
    assert len(reference) > 20
    assert transcribe_file(path, blocksize=blocksize).events == reference


def test_engine_matches_direct_analyzer(melody):
    """The threaded engine adds nothing: same events as feeding the analyzer directly."""
    y, sr, _ = melody
    analyzer = Analyzer(sr)
    direct = analyzer.process(y) + analyzer.finish()
    import soundfile as sf, tempfile, os
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.wav")
        sf.write(path, y, sr, subtype="FLOAT")
        assert transcribe_file(path, blocksize=777).events == direct


def test_rendered_melody_is_transcribed(melody_wav):
    path, notes = melody_wav
    events = transcribe_file(path).events
    score = score_notes(notes, events)
    assert score.f1 >= 0.85, score
    # decisions come after the onsets they report, and soon
    assert np.all(score.latency_s > 0)
    assert np.median(score.latency_s) < 0.05


def test_every_note_on_has_its_note_off(melody_wav):
    events = transcribe_file(melody_wav[0]).events
    ons = [e.note_id for e in events if isinstance(e, NoteOn)]
    offs = [e.note_id for e in events if isinstance(e, NoteOff)]
    assert sorted(ons) == sorted(offs) and len(set(ons)) == len(ons)
    for e in events:
        if isinstance(e, NoteOff):
            assert e.offset_sample >= e.onset_sample and e.decision_sample >= e.offset_sample


def test_events_follow_the_schema(melody_wav, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "ev.jsonl"
    result = transcribe_file(melody_wav[0], events_path=out)
    lines = out.read_text().splitlines()
    assert len(lines) == len(result.events) > 0
    schema = load_schema()
    for line, event in zip(lines, result.events):
        obj = json.loads(line)
        jsonschema.validate(obj, schema)
        assert obj == json.loads(json.dumps(event_to_dict(event)))
        assert obj["decision_sample"] >= obj["onset_sample"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(lines[0]), "pitch": 300}, schema)


def test_midi_file_and_events_carry_the_same_notes(melody_wav, tmp_path):
    mid_path = tmp_path / "m.mid"
    result = transcribe_file(melody_wav[0], midi_path=mid_path)
    mid = mido.MidiFile(mid_path)
    t, on_times = 0.0, []
    for msg in mid:  # iterating a MidiFile yields times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            on_times.append((t, msg.note))
    replaced = {e.replaces for e in result.events if isinstance(e, NoteOn)}
    expected = sorted((e.time, e.pitch) for e in result.events
                      if isinstance(e, NoteOn) and e.note_id not in replaced)
    on_times.sort()
    assert [p for _, p in on_times] == [p for _, p in expected]
    tick_s = mido.tick2second(1, mid.ticks_per_beat, 500000)
    assert np.allclose([t for t, _ in on_times], [t for t, _ in expected], atol=tick_s)


def test_recording_is_the_audio_the_analyzer_heard(melody_wav, tmp_path):
    """--record: the engine's recorder gets every sample it analyzed, lost audio as silence,
    and the file appears only when it is complete."""
    import soundfile as sf

    from rtnote.audio.sources import FileSource
    from rtnote.engine import Engine
    from rtnote.errors import OutputError
    from rtnote.sinks.files import AudioRecorder

    path, _ = melody_wav
    y, sr = sf.read(path, dtype="float32")
    out = tmp_path / "heard.wav"
    recorder = AudioRecorder(out, sr)
    Engine(Analyzer(sr), recorder=recorder).run(FileSource(path, blocksize=300))
    assert not out.exists()  # written to a temp file until closed
    recorder.close()
    heard, heard_sr = sf.read(out, dtype="float32")
    assert heard_sr == sr
    np.testing.assert_array_equal(heard, y[:len(heard)])
    assert len(y) - len(heard) < 128  # all but the last partial hop

    gap = tmp_path / "gap.flac"
    recorder = AudioRecorder(gap, 8000)
    recorder.write(np.full(10, 0.5, np.float32))
    recorder.skip(5)
    recorder.write(np.full(3, -0.25, np.float32))
    recorder.close()
    np.testing.assert_allclose(sf.read(gap, dtype="float32")[0],
                               [0.5] * 10 + [0.0] * 5 + [-0.25] * 3, atol=1e-6)
    with pytest.raises(OutputError, match="give a .wav or .flac"):
        AudioRecorder(tmp_path / "x.mp3", 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gap.flac", "heard.wav"]


def single_note_events(renderer_factory, program, pitch, velocity=100, peak=0.5):
    """Events of one NSynth-style TimGM6mb note (held 1 s of 1.5 s, scaled to ``peak``),
    44.1 kHz."""
    from rtnote.synth import VALIDATION_SOUNDFONT, Note

    sr = 44100
    renderer = renderer_factory(VALIDATION_SOUNDFONT, sr, fresh=True)
    y = renderer.render(program, [Note(pitch, 0.0, 1.0, velocity)], duration_s=1.5)
    renderer.close()
    analyzer = Analyzer(sr)
    return analyzer.process((peak * y / np.abs(y).max()).astype(np.float32)) + analyzer.finish()


def final_note_ons(events):
    """The note_ons no later note_on replaced."""
    replaced = {e.replaces for e in events if isinstance(e, NoteOn)}
    return [e for e in events if isinstance(e, NoteOn) and e.note_id not in replaced]


@pytest.mark.parametrize("program, pitch", [(0, 61), (0, 64), (30, 43), (46, 39)])
def test_a_held_note_is_reported_at_its_pitch(renderer_factory, program, pitch):
    """NSynth-style notes that were once reported a semitone sharp: the spectral peak that
    refines YIN's estimate moved half a semitone on the short segment at the decision."""
    ons = [e for e in single_note_events(renderer_factory, program, pitch) if isinstance(e, NoteOn)]
    assert ons and ons[0].pitch == pitch, ons


@pytest.mark.parametrize("pitch", [60, 67, 72])
def test_a_celesta_is_reported_at_its_fundamental(renderer_factory, pitch):
    """Celesta notes, whose strong partial at 2.7 times the fundamental pulled YIN's period
    a semitone or more flat while the fundamental is the strongest peak: all of MIDI 60-73
    were once reported a semitone low."""
    events = single_note_events(renderer_factory, 8, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


@pytest.mark.parametrize("pitch", [87, 92])
def test_a_glockenspiel_correction_lands_on_its_fundamental(renderer_factory, pitch):
    """Glockenspiel notes whose correction at ~115 ms was a semitone sharp: YIN's period
    there is a compromise between the fundamental and the bar's louder partials, and the
    fundamental's own peak, 8 dB under the strongest partial, was not taken."""
    events = single_note_events(renderer_factory, 9, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


@pytest.mark.parametrize("pitch", [82, 88, 91])
def test_a_glockenspiel_is_corrected_to_its_fundamental_as_the_bar_rings(renderer_factory, pitch):
    """Glockenspiel notes whose attack is two inharmonic partials (5.3 and 8.6 times the
    fundamental, 17 dB above it): YIN hears them as harmonics of a pitch 10 semitones up.
    They fade 20 dB in 150 ms, before the fundamental takes over; the fade once kept the
    wrong first report from being corrected."""
    events = single_note_events(renderer_factory, 9, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


@pytest.mark.parametrize("pitch", [79, 80])
def test_a_scoop_through_the_next_semitones_is_not_reported(renderer_factory, pitch):
    """Shakuhachi notes whose pitch glides up two semitones and back within 150 ms of the
    attack: three looks rounding to the same semitone on the way once replaced the right
    first report, and the note came back later. Looks that agree must also be steady."""
    events = single_note_events(renderer_factory, 77, pitch)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [pitch], events


@pytest.mark.parametrize("pitch", [58, 63, 69])
def test_a_swoop_back_to_the_first_pitch_is_the_same_note(renderer_factory, pitch):
    """Shakuhachi notes whose pitch swoops about two semitones up and comes back over 350 ms:
    the first report was right, the swoop's top corrected it, and the return, with no
    spectral change, was once a second note. A corrected note that comes back to its first
    pitch within ``provisional_s`` is corrected back."""
    events = single_note_events(renderer_factory, 77, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


def test_a_swoop_that_settles_off_its_first_pitch_is_the_same_note(renderer_factory):
    """Shakuhachi 66: read 67 at the attack, corrected up to 69 at the swoop's top and back
    to 67, then it settles at 66 about 350 ms in, with no spectral change. The settling was
    once a second note; a corrected note that has turned back once, within 4 semitones,
    and moves a semitone or two more without a spectral change is still the same note."""
    events = single_note_events(renderer_factory, 77, 66)
    assert [e.pitch for e in final_note_ons(events)] == [66], events


@pytest.mark.parametrize("pitch", [40, 45, 47])
def test_a_struck_bar_whose_pitch_drifts_as_it_decays_is_one_note(renderer_factory, pitch):
    """Marimba 47: read 86 at the attack (a high partial), corrected to 48 at 150 ms, then
    YIN's pitch drifts down to 47.1 as the bar's stretched partials die, with a spectral
    change 65 ms after the onset. That drift was once a second note; a provisional note 10 dB
    or more below its peak is corrected, not followed by a new note."""
    events = single_note_events(renderer_factory, 12, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


@pytest.mark.parametrize("pitch", [60, 66, 69])
def test_a_soft_note_fading_in_is_heard(renderer_factory, pitch):
    """A soprano sax swells in too slowly for the flux; at -53 dBFS (7 dB above silence) it
    was never reported: a note without an attack had to stand 12 dB above silence. It must
    now stand 6 dB above silence and 10 dB above the lowest level of the last 150 ms."""
    events = single_note_events(renderer_factory, 64, pitch, peak=0.007)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [pitch], events


def test_the_beats_of_a_honky_tonk_note_do_not_end_it(renderer_factory):
    """Honky-tonk piano: two detuned strings per note beat about 8 times a second, and the
    level between beats dips 20 dB below the decay for 10-20 ms. Those dips once ended the
    note and each beat began it again (5 note_ons for MIDI 96 at -16 dBFS). A note ends only
    when its level stays down for release_hold_s (20 ms), and its tail rising again within
    0.3 s without an attack (a fade-in of the same pitch) is not a new note."""
    events = single_note_events(renderer_factory, 3, 96, peak=0.15)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [96], events


def test_the_click_of_a_quick_release_is_not_a_note(renderer_factory):
    """A quiet synth lead (bass + lead, -26 dBFS) cut off in 6 ms: the note ends, the click
    of the cut fires the flux, and the release's tail, just above silence, was reported as
    the same note again. The level only fell there: no attack."""
    events = single_note_events(renderer_factory, 87, 84, peak=0.05)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [84], events


@pytest.mark.parametrize("pitch", [62, 67])
def test_a_scoop_corrected_on_its_way_can_still_fall_back_to_the_note(renderer_factory, pitch):
    """Shakuhachi notes whose pitch rises 2.5 semitones and falls back over 300 ms: the
    right first report was replaced at the top of the scoop, and that correction was
    confirmed at once, so the held pitch came back as a second note. A corrected note now
    waits for a look that agrees with it, and the fall is one more correction."""
    events = single_note_events(renderer_factory, 77, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


@pytest.mark.parametrize("program, pitch", [(63, 82), (66, 60), (67, 48), (67, 64), (57, 45), (57, 47)])
def test_a_scooped_attack_is_corrected_to_the_held_pitch(renderer_factory, program, pitch):
    """NSynth-style notes whose attack is bent: read 45 cents off, on a semitone's border
    (brass 63, reeds 66 and 67), or a semitone low for 40 ms before a second attack as the
    trombone (57) settles. The first report may be wrong; the held note replaces it."""
    events = single_note_events(renderer_factory, program, pitch)
    assert [e.pitch for e in final_note_ons(events)] == [pitch], events


@pytest.mark.parametrize("program, pitch", [(22, 72), (84, 73), (84, 76), (68, 74), (68, 76), (68, 78)])
def test_a_strong_second_partial_does_not_lift_a_note_an_octave(renderer_factory, program, pitch):
    """Harmonica and charang notes whose YIN dip at half the period is below the threshold
    (0.14) while the period's own is near 0: once read an octave up at the first look past
    the attack, which replaced the right first report. Oboe notes of its second octave
    (fundamental 19 dB under the second partial): d' 0.04 at half the period, 0.000 at the
    period."""
    events = single_note_events(renderer_factory, program, pitch)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [pitch], events


@pytest.mark.parametrize("pitch", [55, 58])
def test_an_electric_piano_tine_does_not_lift_a_note_a_semitone(renderer_factory, pitch):
    """Electric piano 2 notes whose tine (a strong partial near the 16th) makes a YIN dip
    six percent before the period (d' 0.11 against 0.001 at the period): they were read a
    semitone sharp at the first look past the attack, and then flapped between the two."""
    events = single_note_events(renderer_factory, 5, pitch)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [pitch], events


@pytest.mark.parametrize("pitch", [50, 54, 57])
def test_a_steel_guitar_attack_is_not_reported_an_octave_low(renderer_factory, pitch):
    """Its first 60 ms are more periodic at twice the period (d' 0.16 against 0.28), and
    the string's stiffness puts the dip at the period 2 samples off half of that one."""
    ons = [e for e in single_note_events(renderer_factory, 25, pitch, velocity=110)
           if isinstance(e, NoteOn)]
    assert ons and ons[0].pitch == pitch, ons


@pytest.mark.parametrize("program, pitch, within_s", [(40, 54, 0.06), (40, 60, 0.05), (40, 72, 0.06),
                                                      (68, 72, 0.03)])
def test_a_noisy_attack_does_not_hold_back_a_sounding_pitch(renderer_factory, program, pitch, within_s):
    """A bowed violin's or an oboe's first 20-40 ms are noise. YIN over all the audio
    since the attack stayed aperiodic well after the pitch sounded; the later half alone
    shows it. These notes were reported 64-78 ms (violin) and 38 ms (oboe) after their
    onset; now 38-55 and 20 ms."""
    ons = [e for e in single_note_events(renderer_factory, program, pitch) if isinstance(e, NoteOn)]
    assert ons and ons[0].pitch == pitch, ons
    assert ons[0].decision_sample / ons[0].sr < within_s, ons[0]


@pytest.mark.parametrize("program", [33, 35, 39])
def test_a_quiet_low_e_is_found(renderer_factory, program):
    """A bass's E1 (41 Hz) at -40 dBFS: its level, measured over 6 ms, fell below the
    silence level between the peaks of each 24-ms period, which dropped the waiting attack
    every half period. The tracker now holds the level over a period."""
    events = single_note_events(renderer_factory, program, 28, velocity=80, peak=0.01)
    assert [e.pitch for e in final_note_ons(events)] == [28], events


@pytest.mark.parametrize("program, pitch, velocity", [(38, 30, 90), (38, 36, 90), (15, 67, 70),
                                                      (44, 38, 110)])
def test_a_note_is_not_replaced_by_itself(renderer_factory, program, pitch, velocity):
    """A replacement of a note by its own pitch is a note_off and note_on of the same key.
    Synth bass 38: its filter envelope makes a second attack 30-80 ms in, once taken for a
    bent attack settling. Dulcimer 15 and tremolo strings 44: a look read near another
    semitone, whose spectral peak was the note's own pitch."""
    events = single_note_events(renderer_factory, program, pitch, velocity)
    assert [e.pitch for e in events if isinstance(e, NoteOn)] == [pitch], events


def test_an_octave_leap_while_the_last_note_rings_is_a_new_note(renderer_factory):
    """A flute's octave leap whose attack is lost in the last note's release: once taken
    for an estimator slip of the sounding note. The spectral change marks it a new note."""
    from rtnote.synth import VALIDATION_SOUNDFONT, Note

    sr = 44100
    notes = [Note(73, 0.25, 0.402, 65), Note(85, 0.465, 0.927, 80)]
    y = renderer_factory(VALIDATION_SOUNDFONT, sr).render(73, notes, duration_s=1.5)
    analyzer = Analyzer(sr)
    events = analyzer.process((0.1 * y / np.abs(y).max()).astype(np.float32)) + analyzer.finish()
    ons = [e for e in events if isinstance(e, NoteOn)]
    assert [e.pitch for e in ons] == [73, 85], events
    assert abs(ons[1].onset_sample / sr - 0.465) < 0.05, ons[1]


LEGATO = (67, 72, 76, 74, 71, 79)  # MIDI notes, 0.4 s each, tied


def fresh_note_ons(renderer_factory, program, notes, duration_s, peak=0.5):
    """Final note_ons of ``notes`` played by a TimGM6mb program from a fresh synth (its
    chorus and reverb hold no earlier render), 44.1 kHz, scaled to ``peak``."""
    from rtnote.synth import VALIDATION_SOUNDFONT, Renderer

    sr = 44100
    renderer_factory(VALIDATION_SOUNDFONT, sr)  # skips, or fails in CI, without FluidSynth
    renderer = Renderer(VALIDATION_SOUNDFONT, sr)
    try:
        y = renderer.render(program, notes, duration_s=duration_s)
    finally:
        renderer.close()
    analyzer = Analyzer(sr)
    events = analyzer.process((peak * y / np.abs(y).max()).astype(np.float32)) + analyzer.finish()
    return final_note_ons(events)


def melody_note_ons(renderer_factory, program, seed, peak=0.5):
    """(notes, final note_ons) of an 8-note ``random_melody`` (rng ``seed``) in the range of
    a TimGM6mb program, from a fresh synth (:func:`fresh_note_ons`)."""
    from rtnote.families import program_range
    from rtnote.synth import random_melody

    notes = random_melody(np.random.default_rng(seed), *program_range(program), 8)
    return notes, fresh_note_ons(renderer_factory, program, notes, notes[-1].offset_s + 0.5, peak)


def heard(note, note_on):
    """True when ``note_on`` reports ``note``: its pitch, within 50 ms of its onset."""
    return note_on.pitch == note.pitch and abs(note_on.time - note.onset_s) < 0.05


def legato_note_ons(renderer_factory, program):
    """(reference notes, final note_ons) of ``LEGATO`` played by a TimGM6mb program."""
    from rtnote.synth import Note

    notes = [Note(p, 0.25 + 0.4 * i, 0.65 + 0.4 * i, 80) for i, p in enumerate(LEGATO)]
    return notes, fresh_note_ons(renderer_factory, program, notes, 3.0)


def onset_error_s(note, note_ons):
    """Onset of the note_on of ``note``'s pitch nearest its onset, minus that onset [s]."""
    errors = [e.onset_sample / e.sr - note.onset_s for e in note_ons if e.pitch == note.pitch]
    return min(errors, key=abs, default=None)


@pytest.mark.parametrize("program, first, second", [(49, 64, 71), (50, 71, 78), (51, 71, 78),
                                                    (54, 71, 78), (89, 64, 71)])
def test_a_note_entering_over_the_last_ones_release_is_heard_at_its_own_pitch(
        renderer_factory, program, first, second):
    """Strings, a synth voice and a pad: the first note's release still sounds as the second
    swells in, and the two together repeat at a lower period (494 and 740 Hz at 247 Hz),
    which YIN rightly finds. The second note was reported 180-360 ms late, or the lower
    period was (synth voice). With the sounding note cancelled, the look hears the new one."""
    from rtnote.synth import Note

    notes = [Note(first, 0.25, 0.45, 90), Note(second, 0.55, 1.2, 90)]
    ons = [e for e in fresh_note_ons(renderer_factory, program, notes, 1.8)
           if e.onset_sample / e.sr < 1.2]
    assert [e.pitch for e in ons] == [first, second], ons
    assert abs(ons[1].onset_sample / ons[1].sr - 0.55) < 0.06, ons


@pytest.mark.parametrize("program, first, second", [
    (48, 67, 55), (52, 75, 63), (60, 54, 42), (71, 67, 55), (73, 75, 63),  # down
    (49, 54, 42), (68, 54, 42), (73, 62, 50),  # down, below the last 4 periods' reach
    (60, 42, 54), (68, 68, 80), (73, 63, 75), (73, 42, 54)])  # up
def test_a_legato_leap_of_an_octave_is_a_new_note(renderer_factory, program, first, second):
    """Strings, choir, horn, oboe, clarinet and flute slur an octave with no attack the flux
    sees: the new look was taken for YIN slipping to twice or half the period of the
    sounding note, and the new note was never reported. Cancelling one pitch tells them
    apart: a lower note is still heard with the sounding one cancelled; the sounding note,
    once left for a higher one, is no longer heard with the higher one cancelled. (A look
    of 4 periods cannot hold the period an octave down: YIN finds up to half its length.)"""
    from rtnote.synth import Note

    notes = [Note(first, 0.25, 0.9, 90), Note(second, 0.9, 1.6, 100)]
    ons = fresh_note_ons(renderer_factory, program, notes, 2.0)
    assert [e.pitch for e in ons] == [first, second], ons
    assert abs(ons[1].onset_sample / ons[1].sr - 0.9) < 0.05, ons


@pytest.mark.parametrize("program, index", [(48, 1), (49, 1), (51, 5), (52, 1), (52, 2), (52, 4)])
def test_a_swelling_note_is_placed_where_its_harmonics_rise(renderer_factory, program, index):
    """String ensembles and a choir swell for 100-200 ms under the last note's release: the
    spectral change that places the new note came 170-210 ms (strings) and 77 ms (choir)
    after the onset. The rise of the note's own harmonics places it within 50 ms, the
    scorer's tolerance (choir index 1 comes 46 ms early since the rise is placed at a frame's
    middle; the others within 25 ms). Where the two notes beat (no clear period), the new one
    is heard, and its rise looked for, with the sounding one cancelled: 95 and 125 ms late
    before (choir, index 2 and 4)."""
    notes, ons = legato_note_ons(renderer_factory, program)
    error = onset_error_s(notes[index], ons)
    assert error is not None and abs(error) < 0.05, (error, ons)


@pytest.mark.parametrize("program", [71, 73])
def test_a_sharp_legato_attack_keeps_its_onset(renderer_factory, program):
    """Clarinet and flute: each attack is sharp; the dips of the last note's vibrato at the
    new note's harmonics are not taken for the start of a swell."""
    notes, ons = legato_note_ons(renderer_factory, program)
    errors = [onset_error_s(n, ons) for n in notes]
    assert all(e is not None and -0.02 < e < 0.04 for e in errors), errors


@pytest.mark.parametrize("program, pitch", [(69, 52), (68, 64)])
def test_a_repeat_after_a_short_gap_is_judged_at_the_top_of_its_rise(renderer_factory, program, pitch):
    """An English horn's (an oboe's) same note again after a 120 ms gap: its pitch is
    heard 5 dB into a 20 dB rise, and judged there it was too small a re-attack; the note
    went on."""
    from rtnote.synth import Note

    notes = [Note(pitch, 0.0, 0.28, 126), Note(pitch, 0.40, 0.56, 83)]
    ons = fresh_note_ons(renderer_factory, program, notes, 1.0)
    onsets = [e.onset_sample / e.sr for e in ons if e.pitch == pitch]
    assert len(onsets) == 2 and abs(onsets[1] - 0.40) < 0.05, ons


def test_a_soft_repeated_horn_note_is_a_new_note(renderer_factory):
    """A French horn repeats G3 after 150 ms: the second note swells in with no attack the
    flux sees, 17 dB above the dip between them, and a swell at the sounding pitch never
    made a note. One that rises reswell_db (15 dB) above its dip, back to within 10 dB of
    the note's peak, now does (a tremolo's swells are shallower, a decaying note's beats
    lower)."""
    from rtnote.synth import Note

    notes = [Note(55, 0.25, 0.9, 90), Note(55, 1.05, 1.6, 115)]
    ons = fresh_note_ons(renderer_factory, 60, notes, 2.0)
    assert [e.pitch for e in ons] == [55, 55], ons
    assert abs(ons[1].onset_sample / ons[1].sr - 1.05) < 0.05, ons


@pytest.mark.parametrize("program, first, second", [(73, 86, 74), (63, 67, 72)])
def test_a_note_swelling_out_of_the_last_ones_release_is_reported_as_it_swells(
        renderer_factory, program, first, second):
    """Flute and synth brass: the second note swells out of the first one's release with no
    attack the spectral flux sees; it was reported only once three looks 24 ms apart agreed
    (85 ms after its onset). Its rise of 12 dB in held level now starts it (56 and 39 ms)."""
    from rtnote.synth import Note

    notes = [Note(first, 0.25, 0.78, 88), Note(second, 0.89, 1.4, 72)]
    ons = [e for e in fresh_note_ons(renderer_factory, program, notes, 2.0) if e.pitch == second]
    assert ons and abs(ons[0].onset_sample / ons[0].sr - 0.89) < 0.05, ons
    assert (ons[0].decision_sample / ons[0].sr - 0.89) < 0.06, ons


def _run_from_memory(y, sr, lost_blocks=()):
    from rtnote.bench.faults import MemorySource
    from rtnote.sinks import EventList
    from rtnote.engine import Engine

    engine = Engine(Analyzer(sr))
    collected = EventList()
    engine.sinks.append(collected)
    engine.run(MemorySource([y], sr, blocksize=256, lost_blocks=lost_blocks))
    return engine, collected.events


def test_cycles_the_input_never_got_keep_the_clock_and_the_notes(melody):
    """Blocks the source never got (a JACK cycle the server skipped the input: the ring is
    told) are spliced over: the note sounding over each goes on, and every note after them
    lies where the same note lies in a run that lost nothing (not a block early per loss)."""
    y, sr, _ = melody
    block = 256
    lost = set(range(400, len(y) // block - 600, 300))  # one block every 1.7 s
    _, full = _run_from_memory(y, sr)
    engine, lossy = _run_from_memory(y, sr, lost)
    assert engine.spliced == block * len(lost)
    full_ons, lossy_ons = [e for e in full if isinstance(e, NoteOn)], [e for e in lossy if isinstance(e, NoteOn)]
    shifts = []  # (onset, shift from its twin in the full run) of lossy note_ons [samples]
    for e in lossy_ons:
        twins = [f.onset_sample - e.onset_sample for f in full_ons
                 if f.pitch == e.pitch and abs(f.onset_sample - e.onset_sample) < 0.05 * sr]
        if twins:
            shifts.append((e.onset_sample, min(twins, key=abs)))
    assert len(shifts) >= 0.9 * len(full_ons)
    last_gap = max(lost) * block
    late = [shift for onset, shift in shifts if onset > last_gap + sr // 10]
    assert late and abs(np.median(late)) <= Analyzer(sr).hop_length, late
    # a note sounding over a lost block in the full run sounds over it here too
    offs = {e.note_id: e.offset_sample for e in lossy if isinstance(e, NoteOff)}
    for k in lost:
        at = k * block
        over = [f for f in full_ons if f.onset_sample < at - sr // 20
                and any(isinstance(o, NoteOff) and o.note_id == f.note_id and o.offset_sample > at + block + sr // 20
                        for o in full)]
        for f in over:
            same = [e for e in lossy_ons if e.pitch == f.pitch and abs(e.onset_sample - f.onset_sample) < 0.05 * sr]
            assert same and offs[same[-1].note_id] > at + block, (k, f)


def test_a_long_loss_ends_the_sounding_note_where_the_audio_stops(melody):
    """A loss longer than a splice (0.2 s here) is a gap: the sounding note ends where the
    audio stopped and no note begins inside the lost audio."""
    from rtnote.bench.faults import invented_in_gaps, unpaired

    y, sr, _ = melody
    block = 256
    first = int(3.0 * sr) // block
    lost = set(range(first, first + int(0.2 * sr) // block + 1))
    engine, events = _run_from_memory(y, sr, lost)
    gap = (first * block, len(lost) * block)
    assert engine.spliced == 0
    assert not invented_in_gaps(events, [gap]) and not unpaired(events)
    sounding = [e for e in events if isinstance(e, NoteOff) and e.onset_sample < gap[0] < e.offset_sample + block]
    assert sounding and all(e.offset_sample <= gap[0] for e in sounding)


def test_a_bass_body_resonance_does_not_pull_its_low_notes_flat(renderer_factory):
    """TimGM6mb's acoustic bass (32), MIDI 28-33: a body resonance at 33-45 Hz outweighs the
    fundamental, and YIN read 28 and 29 as 27 while the harmonics (83, 124, 166 Hz for 28)
    lined up on the true pitch. Below 100 Hz, the harmonic sieve decides."""
    from rtnote.synth import Note

    played = [(28, 56), (29, 96), (28, 122), (31, 98), (29, 102), (33, 80)]
    notes = [Note(p, 0.25 + 0.45 * i, 0.6 + 0.45 * i, v) for i, (p, v) in enumerate(played)]
    ons = fresh_note_ons(renderer_factory, 32, notes, 3.3)
    assert [e.pitch for e in ons] == [n.pitch for n in notes], ons


@pytest.mark.parametrize("program, seed", [(44, 0), (52, 1), (48, 8), (48, 19)])
def test_a_legato_note_begins_where_it_rises_under_the_last_one(renderer_factory, program, seed):
    """Tremolo strings and choir melodies: a note that begins under the last one's release is
    found by its pitch change 50-300 ms late, and its onset is moved back to where its
    harmonics began to rise. With the last note's partials in the same bins (three bins of a
    2048-sample frame reach 43-86 Hz around a 65 Hz fundamental), the rise was not seen and
    the onset stayed late; the last note is now cancelled first. What is left of the last
    note then sits about 20 dB down, and the new note may rise less than 15 dB out of it
    (strings 48, seed 8: its third note was 109 ms late when 15 dB were asked for), and
    there it rose at the middle of the last frame below the start level, not at its end
    (seed 19: its fifth note was 53 ms late). Every onset within 50 ms, at its pitch."""
    notes, ons = melody_note_ons(renderer_factory, program, seed)
    missed = [n for n in notes if not any(heard(n, e) for e in ons)]
    assert missed == [], (missed, ons)


@pytest.mark.parametrize("seed", [14, 18])
def test_a_glockenspiel_note_is_heard_at_its_fundamental(renderer_factory, seed):
    """A glockenspiel bar's stretched partials pull YIN's period a semitone sharp (its 80
    read 81.1 for as long as it sounds), and for 120 ms the fundamental lies 12-18 dB under
    them. A provisional note takes the fundamental's peak when a look finds it 0.7
    semitones or more below YIN's period, and that peak counts within 15 dB of the
    strongest. Every note at its pitch, and nothing else."""
    notes, ons = melody_note_ons(renderer_factory, 9, seed)
    missed = [n for n in notes if not any(heard(n, e) for e in ons)]
    assert missed == [] and len(ons) == len(notes), (missed, ons)


@pytest.mark.parametrize("seed", [0, 5, 15])
def test_a_music_box_bar_struck_earlier_is_not_heard_again(renderer_factory, seed):
    """Music-box bars ring for seconds: as a note dies, the one it began over (still
    ringing) beats with it, and with the dying note cancelled it was heard as a new note
    (seed 0: a 68 at 3.05 s, under the 63 struck at 2.61 s after a 68). The note a note
    began over is its past, not a new note, unless the level rises 6 dB (the choir case of
    the legato test above sings it again). Every note_on is a melody note's."""
    notes, ons = melody_note_ons(renderer_factory, 10, seed)
    extra = [e for e in ons if not any(heard(n, e) for n in notes)]
    assert extra == [], (notes, ons)


@pytest.mark.parametrize("program, seed", [(68, 10), (70, 6), (71, 2)])
def test_a_quiet_reed_repeating_its_note_is_heard(renderer_factory, program, seed):
    """Reed melodies peaking at -24 dBFS: a note ends at the silence floor, and a repeat of
    it that soon, too soft to fire the onset detector, rises out of silence. It was taken
    for the last note's tail rising again, and the notes after it, slurred, went unheard
    (a sax's 49, 53, 60 in the benchmark). A fade-in of the last pitch is its tail only
    without a spectral change. Every note is found, and nothing else."""
    notes, ons = melody_note_ons(renderer_factory, program, seed, peak=10 ** (-24 / 20))
    missed = [n for n in notes if not any(heard(n, e) for e in ons)]
    assert missed == [] and len(ons) == len(notes), (missed, ons)


@pytest.mark.parametrize("program, seed", [(9, 1), (10, 1), (9, 3)])
def test_a_bar_is_not_heard_octaves_below_its_note(renderer_factory, program, seed):
    """Glockenspiel and music-box melodies whose notes were corrected (or followed) one or
    two octaves down (86 to 62): the bar's inharmonic partials line up every few periods,
    and YIN took that period, where the spectrum has no fundamental at all."""
    notes, ons = melody_note_ons(renderer_factory, program, seed)
    lowest = min(n.pitch for n in notes)
    assert [e.pitch for e in ons if e.pitch < lowest - 11] == [], (notes, ons)
