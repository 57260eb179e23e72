"""``chemrnn lecture …``: the lecture's demonstrations."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._common import console, err_console, say as _say, state as _state  # noqa: F401

lecture_app = typer.Typer(help="The lecture's demonstrations: hello LM, cells, BPTT, long-range dependencies.",
                          no_args_is_help=True)


def _train_test_smiles(data: str, n_train: int, n_test: int, seed: int):
    """Random disjoint train/test draws of canonical SMILES from a file or dataset name."""
    import random

    from ..io import load_smiles_list
    from ..datasets import resolve_input, smiles_column

    path = resolve_input(data)
    smiles = load_smiles_list(path, smiles_column(data))
    rng = random.Random(seed)
    rng.shuffle(smiles)
    if len(smiles) < n_train + n_test:
        n_test = max(1, len(smiles) // 10)
        n_train = len(smiles) - n_test
    return smiles[:n_train], smiles[n_train:n_train + n_test], path


@lecture_app.command("hello")
def lecture_hello(cell: str = typer.Option("rnn", "--cell", help="rnn|lstm|gru"),
                  hidden: int = typer.Option(8, "--hidden"),
                  steps: int = typer.Option(300, "--steps"),
                  impl: str = typer.Option("lecture", "--impl", help="lecture|fused"),
                  seed: int = typer.Option(0, "--seed"),
                  output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write a plot here.")):
    """Train the char-level model on "hello" and generate from "h", showing the softmax at each step."""
    from ..lecture import HELLO_VOCAB, hello, plot_hello

    res = hello(cell, hidden, steps, seed=seed, impl=impl)
    t = Table(title=f"{cell} ({impl}), {steps} steps: loss {res.losses[0]:.3f} → {res.losses[-1]:.5f}")
    t.add_column("step")
    t.add_column("input")
    for c in HELLO_VOCAB:
        t.add_column(f"p({c})", justify="right")
    t.add_column("chosen")
    for k, row in enumerate(res.steps, 1):
        t.add_row(str(k), row["input"], *[f"{row[c]:.3f}" for c in HELLO_VOCAB], row["chosen"])
    console.print(t)
    console.print(f"generated: [bold]{res.generated}[/]")
    if output:
        output.mkdir(parents=True, exist_ok=True)
        plot_hello(res, output / "hello.png")
        _say(f"plot: {output / 'hello.png'}")


@lecture_app.command("params")
def lecture_params(input_size: int = typer.Option(32, "--input"), hidden: int = typer.Option(256, "--hidden"),
                   layers: int = typer.Option(1, "--layers")):
    """Parameter counts of the three cells: from the formula and counted from the modules."""
    from ..lecture import parameter_table

    t = Table(title=f"input {input_size}, hidden {hidden}, {layers} layer(s)")
    for col in ("cell", "impl", "formula", "counted", "equal"):
        t.add_column(col)
    for r in parameter_table(input_size, hidden, layers):
        t.add_row(r["cell"], r["impl"], f"{r['formula']:,}", f"{r['counted']:,}",
                  "yes" if r["formula"] == r["counted"] else "NO")
    console.print(t)
    console.print("one gate: W is H×(H+I) acting on \\[h, x], plus bias b (H): rnn 1 gate, gru 3, lstm 4; "
                  "PyTorch keeps two biases per gate")


@lecture_app.command("gradients")
def lecture_gradients(output: Path = typer.Option(Path("runs/gradients"), "-o", "--output"),
                      data: str = typer.Option("sample", "--data", help="SMILES file or dataset name."),
                      hidden: int = typer.Option(128, "--hidden"),
                      length: int = typer.Option(60, "--length", help="BPTT window T (tokens)."),
                      steps: int = typer.Option(300, "--steps", help="Training steps before the 'trained' profile."),
                      explode_steps: int = typer.Option(300, "--explode-steps"),
                      seed: int = typer.Option(0, "--seed")):
    """BPTT: ‖∂L/∂h_t‖ vs distance for rnn/lstm/gru (init and trained); exploding gradients and clipping."""
    from ..io import load_smiles_list
    from ..datasets import resolve_input, smiles_column
    from ..lecture import explain_explosion, gradient_study, plot_gradient_study, write_csv
    from ..runinfo import record, write_json
    from ..tokens import Vocabulary, get_tokenizer

    path = resolve_input(data)
    smiles = load_smiles_list(path, smiles_column(data))
    cfg = {"data": data, "hidden": hidden, "length": length, "steps": steps, "explode_steps": explode_steps,
           "seed": seed}
    record(output, cfg, path)
    tok = get_tokenizer("atom")
    vocab = Vocabulary.build(tok.tokenize(s) for s in smiles)
    study = gradient_study(smiles, tok, vocab, hidden, length, steps, seed=seed, explode_steps=explode_steps)
    rows = [{"cell": c, "phase": p, "distance": d, "grad_norm": float(v)}
            for (c, p), prof in study.profiles.items() for d, v in enumerate(prof)]
    write_csv(output / "gradients.csv", rows)
    write_csv(output / "explode.csv", [{"run": k, **e} for k, log in study.explode.items() for e in log])
    plot_gradient_study(study, output / "gradients.png")
    t = Table(title=f"‖∂L/∂h_(T−d)‖ / ‖∂L/∂h_T‖ at d = {study.ratio_distance}")
    for col in ("cell", "init", "trained"):
        t.add_column(col)
    metrics = {"ratio_distance": study.ratio_distance, "ratios": {}, "explode": {}}
    for c in ("rnn", "lstm", "gru"):
        a, b = study.ratios[(c, "init")], study.ratios[(c, "trained")]
        t.add_row(c, f"{a:.3g}", f"{b:.3g}")
        metrics["ratios"][c] = {"init": a, "trained": b}
    console.print(t)
    for name, log in study.explode.items():
        blew, msg = explain_explosion(log)
        metrics["explode"][name] = {"exploded": blew, "message": msg, "final_loss": log[-1]["loss"]}
        (err_console if blew else console).print(f"{name}: {msg}", highlight=False)
    write_json(output / "metrics.json", metrics)
    _say(f"outputs: {output}/gradients.png, gradients.csv, explode.csv, metrics.json")


@lecture_app.command("long-range")
def lecture_long_range(output: Path = typer.Option(Path("runs/long_range"), "-o", "--output"),
                       data: str = typer.Option("sample", "--data", help="SMILES file or dataset name."),
                       n_train: int = typer.Option(9000, "--train-size"),
                       n_test: int = typer.Option(1000, "--test-size"),
                       hidden: int = typer.Option(128, "--hidden"),
                       steps: int = typer.Option(1500, "--steps", help="Training steps per cell (same budget)."),
                       batch_size: int = typer.Option(64, "--batch-size"),
                       seed: int = typer.Option(0, "--seed")):
    """Ring closures and branches: how well rnn/lstm/gru close them as the span grows."""
    from ..lecture import long_range_study, plot_long_range, write_csv
    from ..runinfo import record, write_json
    from ..tokens import Vocabulary, get_tokenizer

    train, test, path = _train_test_smiles(data, n_train, n_test, seed)
    cfg = {"data": data, "train_size": len(train), "test_size": len(test), "hidden": hidden, "steps": steps,
           "batch_size": batch_size, "seed": seed}
    record(output, cfg, path)
    tok = get_tokenizer("atom")
    vocab = Vocabulary.build(tok.tokenize(s) for s in train)
    results = long_range_study(train, test, tok, vocab, hidden, steps, batch_size, seed)
    rows = [{"cell": c, **r} for c, res in results.items() for r in res["table"]]
    write_csv(output / "long_range.csv", rows)
    plot_long_range(results, output / "long_range.png")
    write_json(output / "metrics.json", results)
    t = Table(title=f"mean p(correct closing token) / top-1 accuracy by span; {steps} steps each")
    t.add_column("kind")
    t.add_column("span")
    for c in results:
        t.add_column(c, justify="right")
    base = results["rnn"]["table"]
    for k, r in enumerate(base):
        cells = []
        for c in results:
            row = results[c]["table"][k] if k < len(results[c]["table"]) else None
            cells.append(f"{row['mean_p']:.3f} / {row['top1']:.2f}" if row else "-")
        t.add_row(r["kind"], r["span"], *cells)
    console.print(t)
    for c, res in results.items():
        _say(f"{c}: {res['parameters']:,} parameters, test token NLL {res['test_token_nll']:.3f}, "
             f"{res['train_seconds']:.0f} s")
    _say(f"outputs: {output}/long_range.png, long_range.csv, metrics.json")
