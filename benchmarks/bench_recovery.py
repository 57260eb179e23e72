"""Segler-style recovery: fine-tune the prior on 80% of an actives set, sample N molecules, count how many of the
held-out 20% are regenerated (canonical match). The prior itself is scored the same way as the baseline.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_recovery.py OUT_DIR N SET [SET ...]
SET is an actives dataset name (jnk3, gsk3, pfalciparum), optionally NAME:EPOCHS (default 10).
Environment: PRIOR (a model path or shipped name: moses, chembl; default chembl, as for `lm finetune`), LR (fine-tuning
learning rate, default 5e-4), AUGMENT (randomized SMILES per active in fine-tuning, default 0),
TEMPERATURE (sampling, default 1.0), SKIP_PRIOR=1 (do not sample the prior
alone). The result holds the recovery curve every 10,000 samples with the novelty of the unique valid molecules
against the training data (prior's and actives').
The 80/20 split is random (seed 0) over the file,
which is itself the 80% training part published in shared/data (its own held-out 20% is hidden).
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recovery_split  # noqa: E402

from chemrnn.api import recovery  # noqa: E402

out = Path(sys.argv[1])
n = int(sys.argv[2])
sets = sys.argv[3:]
out.mkdir(parents=True, exist_ok=True)
prior = os.environ.get("PRIOR") or "chembl"  # the default prior for fine-tuning on actives; PRIOR=path or name
lr = os.environ.get("LR", "5e-4")
augment = int(os.environ.get("AUGMENT", "0"))
temperature = float(os.environ.get("TEMPERATURE", "1.0"))
chemrnn = str(Path(sys.executable).with_name("chemrnn"))
results = {}
for spec in sets:
    name, _, epochs = spec.partition(":")
    epochs = epochs or "10"
    train80, heldout20 = recovery_split(name)
    (out / f"{name}_train80.smi").write_text("\n".join(train80) + "\n")
    (out / f"{name}_heldout20.smi").write_text("\n".join(heldout20) + "\n")
    t = time.perf_counter()
    subprocess.run([chemrnn, "-q", "lm", "finetune", prior, str(out / f"{name}_train80.smi"), "-o",
                    str(out / f"ft_{name}"), "--epochs", epochs, "--lr", lr, "--augment", str(augment), "--restart"],
                   check=True)
    ft_seconds = time.perf_counter() - t
    base = (None if os.environ.get("SKIP_PRIOR") else
            recovery(prior, str(out / f"{name}_heldout20.smi"), n=n, seed=0, temperature=temperature))
    tuned = recovery(str(out / f"ft_{name}" / "model"), str(out / f"{name}_heldout20.smi"), n=n, seed=0,
                     temperature=temperature, train="auto")
    results[name] = {"train80": len(train80), "heldout20": len(heldout20), "epochs": int(epochs), "lr": float(lr),
                     "augment": augment,
                     "finetune_steps": json.loads((out / f"ft_{name}" / "metrics.json").read_text())["steps"],
                     "temperature": temperature, "prior": prior, "finetune_seconds": ft_seconds,
                     "prior_alone": base, "finetuned": tuned}
    print(name, json.dumps({k: results[name][k] for k in ("train80", "heldout20", "finetune_seconds")}),
          "prior", base and base["recovered"], "finetuned", tuned["recovered"], f"{tuned['fraction']:.2%}", flush=True)
    (out / "recovery.json").write_text(json.dumps(results, indent=1))
