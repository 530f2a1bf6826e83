"""Options shared by the commands that run the analyzer."""

from rtnote import interrupts
from rtnote.analysis.analyzer import Settings
from rtnote.analysis.notes import LATENCY_PRESETS


def add_analyzer_arguments(parser):
    group = parser.add_argument_group("analysis")
    group.add_argument(
        "--latency", choices=list(LATENCY_PRESETS), default="balanced",
        help="how long a new note's pitch is watched before it is reported: 'low' decides "
             "after 2 periods of the note and one confident look, 'balanced' (default) after "
             "2 periods and two agreeing looks, 'accurate' after 4 periods, three looks and at "
             "least 20 ms. Sooner reports are corrected more often (a note_on that "
             "'replaces' the first one); see benchmarks/RESULTS.md for measured figures")
    group.add_argument("--a4", type=float, default=440.0, metavar="HZ",
                       help="tuning reference: frequency of A4 in Hz (default 440)")
    group.add_argument("--silence-db", type=float, default=-60.0, metavar="DB",
                       help="level below which nothing is heard, in dBFS (default -60)")
    add_model_arguments(parser)


def add_model_arguments(parser):
    """``--model PATH|none`` and ``--trust-model``: which instrument-family model to use."""
    group = parser.add_argument_group("instrument families")
    group.add_argument("--model", metavar="PATH",
                       help="family model file (.joblib, with its .json manifest beside it); "
                            "default: the shipped model; 'none': no families")
    group.add_argument("--trust-model", action="store_true",
                       help="load the model even if no manifest vouches for it or it was made "
                            "with other library versions (a model file can run code: only "
                            "for files you made)")


def settings_from_args(args):
    return Settings(latency=args.latency, a4_hz=args.a4, silence_db=args.silence_db).validate()


def classifier_from_args(args):
    """The family classifier ``--model``/``--trust-model`` ask for, or None for ``--model none``.

    Raises
    ------
    rtnote.errors.ModelError
        One line, if the model is missing, unvouched, corrupt or from other library versions.
    """
    path = getattr(args, "model", None)
    if path is not None and path.lower() == "none":
        return None
    with interrupts.held():  # scikit-learn's import must not be interrupted half-way
        from rtnote.classifier import load_model

        return load_model(path, trust=getattr(args, "trust_model", False))
