"""rtnote evaluate: score a family model on the held-out source and write its model card.

Writes <stem>.md (the model card) and <stem>-confusion-*.png beside the model (or into
--out-dir): accuracy per family at the ~100 ms decision and on the whole note, the seed's
recipe on a random split and on the held-out source, the whole engine on rendered
melodies, and the prediction time.
"""

import argparse
import os

from rtnote.cli.options import add_model_arguments, classifier_from_args
from rtnote.cli.train import add_data_arguments
from rtnote.errors import ConfigError

EXAMPLES = """examples:
  rtnote evaluate                                  the shipped model, card beside it
  rtnote evaluate --model family.joblib --out-dir card/
  rtnote evaluate --model family.joblib --no-seed-recipe --melodies 0   quicker
"""


def add_parser(sub, name):
    p = sub.add_parser(name, help="score a family model on held-out data, write its model card",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100))
    add_model_arguments(p)
    add_data_arguments(p)
    p.add_argument("--out-dir", metavar="DIR", help="where the card and PNGs go (default: beside the model)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-seed-recipe", action="store_true",
                   help="skip the seed recipe's forests (saves a few minutes)")
    p.add_argument("--melodies", type=int, default=1, metavar="N",
                   help="rendered melodies per program for the whole-engine check (default 1; 0: skip)")
    p.set_defaults(run=run)


def run(args):
    from rich.console import Console

    from rtnote.cli.progress import progress_bars
    from rtnote.learn.card import evaluate, write_card

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, not {args.jobs}")
    if args.model is not None and args.model.lower() == "none":
        raise ConfigError("--model none: there is nothing to evaluate")
    classifier = classifier_from_args(args)
    console = Console(stderr=True)
    with progress_bars(console) as progress:
        result = evaluate(classifier, args.data, seed=args.seed, jobs=args.jobs,
                          cache_dir=args.cache_dir, progress=progress,
                          with_seed=not args.no_seed_recipe, engine_melodies=args.melodies)
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(classifier.path))
    card = write_card(result, classifier.manifest, classifier.path, out_dir)
    for look, r in result["looks"].items():
        console.print(f"{look:>8}: {r['accuracy']:.1%}", highlight=False)
    console.print(f"model card: {card}", highlight=False)
    return 0
