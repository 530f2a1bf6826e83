"""Family data: NSynth's jsonwav layout (a tiny fixture made here) and rendered soundfont notes."""

import json

import numpy as np
import pytest

from rtnote.errors import RtnoteError
from rtnote.families import FAMILIES
from rtnote.learn import SR
from rtnote.learn.datasets import NSynthDataset, RenderedDataset, RenderSpec, open_source

#: Tiny render settings: a couple of short notes per program.
TINY = dict(duration_s=0.8, hold_s=0.5, velocities=(100,), pitch_step=24)


def make_nsynth(root, split="valid", per_family=2):
    """A tiny NSynth split in the jsonwav layout: examples.json + audio/<name>.wav (16 kHz)."""
    import soundfile as sf

    folder = root / f"nsynth-{split}"
    (folder / "audio").mkdir(parents=True)
    examples = {}
    t = np.arange(SR) / SR
    for k, family in enumerate(FAMILIES):
        for j in range(per_family):
            pitch = 48 + 3 * k + j
            name = f"{family}_acoustic_{j:03d}-{pitch:03d}-100"
            f0 = 440 * 2 ** ((pitch - 69) / 12)
            y = sum(np.sin(2 * np.pi * h * f0 * t) / h ** (1 + k / 5) for h in range(1, 6))
            y = 0.3 * y * np.exp(-t * (k + 1))
            sf.write(folder / "audio" / f"{name}.wav", y.astype(np.float32), SR, subtype="PCM_16")
            examples[name] = {
                "note": k * 10 + j, "note_str": name, "instrument": k, "instrument_str": name[:-8],
                "pitch": pitch, "velocity": 100, "sample_rate": SR, "qualities": [0] * 10,
                "qualities_str": [], "instrument_family": k, "instrument_family_str": family,
                "instrument_source": 0, "instrument_source_str": "acoustic",
            }
    (folder / "examples.json").write_text(json.dumps(examples))
    return folder


def test_nsynth_jsonwav_is_read_as_it_is(tmp_path):
    make_nsynth(tmp_path, "valid")
    ds = NSynthDataset(str(tmp_path), "valid")
    assert len(ds) == 2 * len(FAMILIES)
    assert sorted(set(ds.column("family"))) == sorted(FAMILIES)
    note = ds.notes[0]
    assert {"name", "pitch", "velocity", "family", "instrument", "source"} <= set(note)
    y = ds.audio(0)
    assert y.dtype == np.float32 and len(y) == SR and 0.05 < np.abs(y).max() <= 1.0
    # a split folder itself works too, and so does the command-line form
    assert len(NSynthDataset(str(tmp_path / "nsynth-valid"))) == len(ds)
    assert len(open_source(f"nsynth:{tmp_path}:valid")) == len(ds)


def test_missing_nsynth_names_what_and_how(tmp_path):
    with pytest.raises(RtnoteError) as err:
        NSynthDataset(str(tmp_path / "nowhere"), "train")
    message = str(err.value)
    assert "examples.json" in message and "nsynth-train.jsonwav.tar.gz" in message
    assert "\n" not in message


def test_broken_nsynth_table_is_one_line(tmp_path):
    folder = make_nsynth(tmp_path, "test")
    (folder / "examples.json").write_text("{not json")
    with pytest.raises(RtnoteError, match="cannot read"):
        NSynthDataset(str(tmp_path), "test")


def test_missing_soundfont_names_the_package(tmp_path):
    with pytest.raises(RtnoteError, match="apt-get install fluid-soundfont-gm"):
        from rtnote.synth import SOUNDFONTS, soundfont_path

        SOUNDFONTS["Missing"] = ("fluid-soundfont-gm", str(tmp_path / "none.sf2"))
        try:
            soundfont_path("Missing")
        finally:
            del SOUNDFONTS["Missing"]


@pytest.fixture(scope="module")
def tiny_render(renderer_factory, tmp_path_factory):
    renderer_factory("TimGM6mb")  # skips (or fails in CI) without FluidSynth
    cache = tmp_path_factory.mktemp("cache")
    return RenderedDataset("TimGM6mb", cache_dir=str(cache), spec=RenderSpec(**TINY), jobs=2), cache


def test_rendered_notes_are_nsynth_style(tiny_render):
    ds, _ = tiny_render
    families = ds.column("family")
    assert set(families) == set(FAMILIES)
    for i in range(0, len(ds), 7):
        y = ds.audio(i)
        assert len(y) == int(TINY["duration_s"] * SR) and np.abs(y).max() > 0.1
        assert ds.notes[i]["velocity"] == 100
    # silent renders are dropped: every clip has sound
    assert len(ds) <= sum(len(RenderSpec(**TINY).notes_of(p)) for p in range(88) if p != 55)


def test_renders_are_cached_and_deterministic(tiny_render, tmp_path):
    ds, cache = tiny_render
    again = RenderedDataset("TimGM6mb", cache_dir=str(cache), spec=RenderSpec(**TINY))
    assert again.folder == ds.folder and len(again) == len(ds)
    fresh = RenderedDataset("TimGM6mb", cache_dir=str(tmp_path), spec=RenderSpec(**TINY), jobs=1)
    assert len(fresh) == len(ds)
    for i in (0, len(ds) // 2, len(ds) - 1):
        assert np.array_equal(fresh.audio(i), ds.audio(i))
