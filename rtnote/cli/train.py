"""rtnote train: train the instrument-family classifier from scratch, reproducibly.

By default the training notes are rendered NSynth-style from the FluidR3_GM and
MuseScore_General soundfonts and the model is chosen and scored on TimGM6mb, which it never
hears in training. With --data nsynth:DIR it trains on NSynth's train split and scores on its
valid split. Rendered notes and features are cached (--cache-dir); the same seed gives the
same model file on the same machine. Writes the model (.joblib) and its manifest (.json).
"""

import argparse
import os
import time

from rtnote.errors import ConfigError

EXAMPLES = """examples:
  rtnote train -o family.joblib                         soundfonts, the shipped recipe
  rtnote train --model-type auto -o family.joblib       compare models on TimGM6mb, keep the best
  rtnote train --data nsynth:~/nsynth -o nsynth.joblib  NSynth jsonwav folders
  rtnote evaluate --model family.joblib                 then write its model card
"""


def add_parser(sub, name):
    p = sub.add_parser(name, help="train the instrument-family model (reproducible)",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100))
    add_data_arguments(p)
    p.add_argument("-o", "--output", default="family.joblib", metavar="OUT.joblib",
                   help="model file to write; its manifest goes beside it as OUT.json "
                        "(default family.joblib)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--model-type", default="mlp", metavar="NAME",
                   help="mlp (default), logreg, hgb, rf, or auto: fit all, keep the best on the "
                        "validation source among those fast enough to run live (mlp, logreg)")
    p.add_argument("--copies", type=int, default=1, metavar="N",
                   help="variants per training note: the note and N-1 augmented ones (default 1: "
                        "augmentation did not help on the held-out source, see the model card)")
    p.set_defaults(run=run)


def add_data_arguments(p):
    p.add_argument("--data", default="soundfonts", metavar="SOURCE",
                   help="'soundfonts' (default: train on FluidR3_GM + MuseScore_General, validate "
                        "on TimGM6mb) or 'nsynth:DIR' (NSynth jsonwav: train split, valid split)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where rendered notes and features are kept (default $RTNOTE_CACHE or "
                        "~/.cache/rtnote)")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="worker processes for rendering and features (default 2)")


def run(args):
    from rich.console import Console

    from rtnote.classifier import save_model
    from rtnote.cli.progress import progress_bars
    from rtnote.learn.training import LOOKS, train

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, not {args.jobs}")
    if args.copies < 1:
        raise ConfigError(f"--copies must be >= 1, not {args.copies}")
    if not args.output.endswith(".joblib"):
        raise ConfigError(f"the model file name must end in .joblib, not {args.output}")
    console = Console(stderr=True)
    start = time.monotonic()
    with progress_bars(console) as progress:
        pipelines, report = train(args.data, seed=args.seed, model=args.model_type,
                                  copies=args.copies, jobs=args.jobs,
                                  cache_dir=args.cache_dir, progress=progress)
    manifest = save_model(args.output, pipelines, LOOKS, report, report["features"]["combine"],
                          report["class_prior"])
    minutes = (time.monotonic() - start) / 60
    metrics = manifest["metrics"]["validation"]
    console.print(f"{args.output}: {manifest['model']['name']}, sha256 {manifest['sha256'][:16]}..., "
                  f"{manifest['size_bytes'] / 1e6:.1f} MB, {minutes:.1f} min", highlight=False)
    for look, m in metrics.items():
        worst = min(m["per_family"].items(), key=lambda kv: kv[1])
        console.print(f"  {manifest['validation']['name']} {look:>8} ({LOOKS[look] * 1000:.0f} ms): "
                      f"accuracy {m['accuracy']:.1%}, lowest {worst[0]} {worst[1]:.1%}", highlight=False)
    console.print(f"  manifest: {os.path.splitext(args.output)[0]}.json", highlight=False)
    return 0
