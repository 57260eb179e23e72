"""Package a trained language model as a shipped prior: ``RUN/model`` → ``src/chemrnn/data/prior_NAME.chemrnn``, its
record (config, learning curve, metrics) copied to ``docs/prior_NAME/``.

The record keeps the exact data file and its SHA-256; ``--data-name`` adds the dataset name the file derives from
(``training.config.data``), so that ``--novel-only`` and novelty find the training set on a user's machine, with
``--note`` saying how the file differs from it.

Usage: python benchmarks/ship_prior.py RUN NAME --data-name chembl --note "chembl:train minus …"
"""
import argparse
import shutil
from pathlib import Path

from chemrnn.models import modelfile

ROOT = Path(__file__).resolve().parent.parent

ap = argparse.ArgumentParser()
ap.add_argument("run", type=Path)
ap.add_argument("name")
ap.add_argument("--data-name", required=True)
ap.add_argument("--note", default="")
args = ap.parse_args()
state, meta = modelfile.load(args.run / "model")
training = meta["training"]
training["data_file"] = Path(training["data"]).name
training["data"] = args.data_name
training["config"]["data"] = args.data_name
if args.note:
    training["data_note"] = args.note
meta = {k: v for k, v in meta.items() if k not in ("format", "schema")}
out = modelfile.save(ROOT / "src" / "chemrnn" / "data" / f"prior_{args.name}.chemrnn", state, meta)
docs = ROOT / "docs" / f"prior_{args.name}"
docs.mkdir(parents=True, exist_ok=True)
for f in ("config.json", "log.csv", "metrics.json"):
    shutil.copy(args.run / f, docs / f)
print(out, out.stat().st_size, "bytes;", "record in", docs)
