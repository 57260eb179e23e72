"""Property prediction on ZINC250k: our (bi)RNN, the course's original model, Morgan baselines,
embeddings as features for properties the model never saw, and prediction throughput.

Usage:
  CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_property.py OUT_DIR STEP [STEP ...] [--minutes M]

STEPs (each adds its figures to OUT_DIR/bench_property.json, so they can run one at a time):
  ours        chemrnn property train on the 80/10/10 random split, seed 0, within --minutes (default 60)
  scaffold    the same model and budget on the Bemis–Murcko scaffold split
  course      the course's original model: char one-hot padded to 120, 1-layer GRU-256, dense 256 → 1,
              one model per target, within --course-minutes per target (default 10), same random split;
              --course-padding pre (Keras pad_sequences' default, the padding before the SMILES) or post
  morgan      Morgan fingerprint (radius 2, 2048 bits) + ridge and + random forest, same split
  embed       ridge on `chemrnn embed` vectors of the `ours` model vs ridge on Morgan bits for QED and SAS
              (columns of ZINC250k the model was not trained on), same split
  speed       prediction throughput of a model file (--model, default: the shipped one) on 10,000 molecules
  parity      writes the random split's test set to OUT_DIR/test_random.csv and runs `chemrnn property evaluate`
              on it with the `ours` model (parity plots, error by molecule size) into OUT_DIR/eval_random
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, measure  # noqa: E402

MODEL_OPTS = ["--layers", "1", "--hidden", "256", "--pooling", "sum", "--precision", "bf16",
              "--epochs", "200", "--patience", "8"]


def data():
    """Canonical SMILES, labels [logP, TPSA, qed, SAS] and the random 80/10/10 split (seed 0) of ZINC250k."""
    from chemrnn.labels import load_labelled, split_indices

    smiles, Y, rejects = load_labelled("zinc250k", ["logP", "TPSA", "qed", "SAS"])
    tr, va, te = split_indices(smiles, "random", seed=0)
    return smiles, Y, (tr, va, te), len(rejects)


def chemrnn_cmd() -> str:
    return str(Path(sys.executable).with_name("chemrnn"))


def step_train(out: Path, split: str, minutes: float) -> dict:
    run = out / f"ours_{split}"
    cmd = [chemrnn_cmd(), "-q", "property", "train", "--data", "zinc250k", "--targets", "logP,TPSA", "--split", split,
           "--seed", "0", "--max-minutes", str(minutes), *MODEL_OPTS, "-o", str(run)]
    m = measure(cmd)
    if m["returncode"]:
        raise SystemExit(m["output_tail"])
    metrics = json.loads((run / "metrics.json").read_text())
    return {"command": " ".join(cmd[1:]), "wall_s": m["seconds"], "peak_rss_mb": m["peak_rss_mb"], **metrics}


def step_course(out: Path, minutes: float, padding: str = "pre") -> dict:
    """The course's model, trained here with the same optimizer budget rules (Adam, batch 128, early stop on val)."""
    import torch

    from chemrnn.batching import collate
    from chemrnn.metrics import regression_metrics
    from chemrnn.models.property import PropertyConfig, PropertyModel
    from chemrnn.tokens import Vocabulary, get_tokenizer

    smiles, Y, (tr, va, te), _ = data()
    tok = get_tokenizer("char")
    vocab = Vocabulary.build(tok.tokenize(smiles[i]) for i in tr)
    ids = [np.array(vocab.encode(tok.tokenize(s), unknown="unk"))[:120] for s in smiles]
    X = collate(ids, vocab.pad_id)[0]
    X = torch.nn.functional.pad(X, (0, 120 - X.shape[1]), value=vocab.pad_id)  # padded to 120, read to the end
    if padding == "pre":  # Keras pad_sequences' default: the padding comes first, the last state follows the SMILES
        lengths = torch.tensor([len(a) for a in ids])
        shift = (torch.arange(120)[None, :] - (120 - lengths)[:, None]) % 120
        X = X.gather(1, shift)
    full = torch.full((len(smiles),), 120)
    res = {"model": f"char one-hot {padding}-padded to 120 → GRU-256 (reads the padding, no mask) → dense 256 (ReLU) "
                    "→ 1", "minutes_per_target": minutes, "padding": padding}
    for k, name in enumerate(["logP", "TPSA"]):
        torch.manual_seed(0)
        mean, std = Y[tr, k].mean(), Y[tr, k].std()
        z = torch.tensor((Y[:, k] - mean) / std, dtype=torch.float32)[:, None]
        model = PropertyModel(PropertyConfig(len(vocab), [name], embedding_dim=0, hidden_size=256, num_layers=1,
                                             bidirectional=False, pooling="last", mlp_hidden=256, pad_id=vocab.pad_id))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def predict(idx):
            model.eval()
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                out = torch.cat([model(X[idx[i:i + 1024]], full[idx[i:i + 1024]]) for i in range(0, len(idx), 1024)])
            model.train()
            return out.float()

        t0, best, best_state, epochs = time.perf_counter(), float("inf"), None, 0
        rng = np.random.default_rng(0)
        while time.perf_counter() - t0 < minutes * 60:
            for b in np.array_split(rng.permutation(tr), len(tr) // 128):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = torch.nn.functional.mse_loss(model(X[b], full[b]), z[b])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                if time.perf_counter() - t0 > minutes * 60:
                    break
            epochs += 1
            val = torch.nn.functional.mse_loss(predict(va), z[va]).item()
            if val < best:
                best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(best_state)
        pred = predict(te).numpy()[:, 0] * std + mean
        res[name] = {**regression_metrics(Y[te, k], pred), "epochs": epochs,
                     "seconds": round(time.perf_counter() - t0, 1)}
        print(name, res[name], flush=True)
    return res


def morgan_matrix(smiles: list[str]) -> np.ndarray:
    from chemrnn import chem

    out = np.zeros((len(smiles), 2048), dtype=np.float32)
    for i, s in enumerate(smiles):
        out[i] = np.unpackbits(chem.morgan_bits(chem.parse(s)[0], 2, 2048))
    return out


def ridge_fit(Xtr, ytr, Xva, yva, Xte):
    """Ridge with alpha chosen on the validation split; returns test predictions and alpha."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(Xtr)
    Xtr, Xva, Xte = scaler.transform(Xtr), scaler.transform(Xva), scaler.transform(Xte)
    best = None
    for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0):
        m = Ridge(alpha=alpha).fit(Xtr, ytr)
        err = np.abs(m.predict(Xva) - yva).mean()
        if best is None or err < best[0]:
            best = (err, alpha, m)
    return best[2].predict(Xte), best[1]


def step_morgan(out: Path, rf_train: int) -> dict:
    from sklearn.ensemble import RandomForestRegressor

    from chemrnn.metrics import regression_metrics

    smiles, Y, (tr, va, te), _ = data()
    t0 = time.perf_counter()
    F = morgan_matrix(smiles)
    res = {"fingerprint": "Morgan radius 2, 2048 bits", "featurize_s": round(time.perf_counter() - t0, 1)}
    for k, name in enumerate(["logP", "TPSA"]):
        t = time.perf_counter()
        pred, alpha = ridge_fit(F[tr], Y[tr, k], F[va], Y[va, k], F[te])
        res[f"ridge_{name}"] = {**regression_metrics(Y[te, k], pred), "alpha": alpha,
                                "seconds": round(time.perf_counter() - t, 1)}
        t = time.perf_counter()
        sub = np.random.default_rng(0).choice(tr, size=min(rf_train, len(tr)), replace=False)
        rf = RandomForestRegressor(n_estimators=100, max_features=0.2, min_samples_leaf=2, n_jobs=os.cpu_count(),
                                   random_state=0).fit(F[sub], Y[sub, k])
        res[f"rf_{name}"] = {**regression_metrics(Y[te, k], rf.predict(F[te])), "train_rows": int(len(sub)),
                             "trees": 100, "seconds": round(time.perf_counter() - t, 1)}
        print(name, res[f"ridge_{name}"], res[f"rf_{name}"], flush=True)
    return res


def step_embed(out: Path, model: Path) -> dict:
    from chemrnn.metrics import regression_metrics
    from chemrnn.predict import embed_smiles

    smiles, Y, (tr, va, te), _ = data()
    t0 = time.perf_counter()
    E, _ = embed_smiles(model, smiles)
    embed_s = time.perf_counter() - t0
    F = morgan_matrix(smiles)
    res = {"model": str(model), "width": int(E.shape[1]), "embed_s": round(embed_s, 1)}
    for k, name in ((2, "qed"), (3, "SAS")):
        for feats, label in ((E, "rnn_embedding"), (F, "morgan_2048")):
            pred, alpha = ridge_fit(feats[tr], Y[tr, k], feats[va], Y[va, k], feats[te])
            res[f"{name}_{label}"] = {**regression_metrics(Y[te, k], pred), "alpha": alpha}
        print(name, res[f"{name}_rnn_embedding"], res[f"{name}_morgan_2048"], flush=True)
    return res


def step_speed(model: Path, n: int = 10_000) -> dict:
    import torch

    from chemrnn.predict import predict_smiles

    from chemrnn.metrics import regression_metrics
    from chemrnn.utils import inference_precision

    smiles, Y, (_, _, te), _ = data()
    pick = np.random.default_rng(0).choice(te, size=n, replace=False)
    mols = [smiles[i] for i in pick]
    res = {"model": str(model), "molecules": n, "torch_threads": torch.get_num_threads(),
           "includes": "parse + canonicalize + tokenize + forward", "auto_is_bf16": inference_precision().__class__
           is torch.autocast}
    preds = {}
    for precision in ("auto", "32"):
        predict_smiles(model, mols[:500], precision=precision)  # warm-up: load, first kernels
        t = time.perf_counter()
        pred, _, targets = predict_smiles(model, mols, precision=precision)
        seconds = time.perf_counter() - t
        preds[precision] = pred
        res[precision] = {"seconds": round(seconds, 2), "molecules_per_s": round(n / seconds),
                          **{t: regression_metrics(Y[pick, k], pred[:, k]) for k, t in enumerate(targets)}}
    res["auto_vs_32_mean_abs_diff"] = np.abs(preds["auto"] - preds["32"]).mean(0).tolist()
    return res


def step_parity(out: Path, model: Path) -> dict:
    import pandas as pd

    smiles, Y, (_, _, te), _ = data()
    test = out / "test_random.csv"
    pd.DataFrame({"smiles": [smiles[i] for i in te], "logP": Y[te, 0], "TPSA": Y[te, 1]}).to_csv(test, index=False)
    cmd = [chemrnn_cmd(), "-q", "property", "evaluate", str(model), str(test), "-o", str(out / "eval_random")]
    m = measure(cmd)
    if m["returncode"]:
        raise SystemExit(m["output_tail"])
    return {"command": " ".join(cmd[1:]), "wall_s": m["seconds"],
            **json.loads((out / "eval_random" / "metrics.json").read_text())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("steps", nargs="+", choices=["ours", "scaffold", "course", "morgan", "embed", "speed", "parity"])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--course-minutes", type=float, default=10)
    ap.add_argument("--course-padding", choices=["pre", "post"], default="pre")
    ap.add_argument("--rf-train", type=int, default=50_000)
    ap.add_argument("--model", type=Path, default=None)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "bench_property.json"
    for step in a.steps:
        t = time.perf_counter()
        if step in ("ours", "scaffold"):
            r = step_train(a.out, "random" if step == "ours" else "scaffold", a.minutes)
        elif step == "course":
            r = step_course(a.out, a.course_minutes, a.course_padding)
        elif step == "morgan":
            r = step_morgan(a.out, a.rf_train)
        elif step == "embed":
            r = step_embed(a.out, a.model or a.out / "ours_random" / "model")
        elif step == "parity":
            r = step_parity(a.out, a.model or a.out / "ours_random" / "model")
        else:
            from chemrnn.api import shipped_property_model

            r = step_speed(a.model or shipped_property_model())
        r["machine"] = machine()
        r["step_wall_s"] = round(time.perf_counter() - t, 1)
        results = json.loads(path.read_text()) if path.exists() else {}  # re-read: steps may run side by side
        results[step] = r
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(path)
        print(f"{step}: done in {r['step_wall_s']} s", flush=True)


if __name__ == "__main__":
    main()
