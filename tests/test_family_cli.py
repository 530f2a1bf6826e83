"""``rtnote train`` and ``rtnote evaluate`` end to end on a tiny NSynth fixture."""

import json
import os

from rtnote.cli import main
from test_family_data import make_nsynth


def test_train_then_evaluate_on_tiny_nsynth(tmp_path, capsys):
    make_nsynth(tmp_path / "nsynth", "train", per_family=3)
    make_nsynth(tmp_path / "nsynth", "valid", per_family=1)
    model = str(tmp_path / "tiny.joblib")
    args = ["--data", f"nsynth:{tmp_path / 'nsynth'}", "--cache-dir", str(tmp_path / "cache"), "--jobs", "1"]
    assert main(["train", "-o", model, "--model-type", "logreg", *args]) == 0
    manifest = json.load(open(tmp_path / "tiny.json"))
    assert manifest["model_file"] == "tiny.joblib" and manifest["training"]["data"].startswith("nsynth:")
    assert manifest["validation"]["name"] == "nsynth-valid"
    assert set(manifest["metrics"]["validation"]) == {"onset", "decision", "note", "held"}
    out = tmp_path / "card"
    assert main(["evaluate", "--model", model, "--out-dir", str(out), "--no-seed-recipe",
                 "--melodies", "0", *args]) == 0
    card = (out / "tiny.md").read_text()
    assert "~100 ms decision" in card and "nsynth-valid" in card
    for png in ("tiny-confusion-decision.png", "tiny-confusion-held.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "model card" in capsys.readouterr().err


def test_train_names_a_missing_nsynth_folder(tmp_path, capsys):
    assert main(["train", "--data", f"nsynth:{tmp_path / 'absent'}", "-o", str(tmp_path / "m.joblib")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nsynth-train.jsonwav.tar.gz" in err[0]
    assert not os.path.exists(tmp_path / "m.joblib")


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert main(["train", "--data", "nowhere", "-o", str(tmp_path / "m.joblib")]) == 1
    assert main(["train", "-o", str(tmp_path / "m.pkl")]) == 1
    assert main(["evaluate", "--model", "none"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("rtnote: error:") for line in lines)
