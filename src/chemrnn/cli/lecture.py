"""``chemrnn lecture …``: the lecture's demonstrations. Each command is one call into :mod:`chemrnn.lecture`
(which trains, writes the run directory and returns the metrics) and prints the result."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ._common import Cell, GruForm, Impl, console, err_console, say as _say

lecture_app = typer.Typer(help="The lecture's demonstrations: hello LM, cells, BPTT, long-range dependencies.",
                          no_args_is_help=True)

_FORM_HELP = ("GRU only: where the reset gate sits. lecture: before the recurrent product, "
              "h̃_t = tanh(W_h\\[r_t*h_(t-1), x_t] + b_h), the lecture's cells only (no fused kernel, slower); "
              "pytorch: after it, h̃_t = tanh(W_hx x_t + b_h + r_t*(W_hh h_(t-1) + b_hh)), PyTorch's and cuDNN's GRU.")


def _say_outputs(output: Path, *names: str) -> None:
    """The files a command wrote, one unwrapped line (paths are user text: escaped for Rich)."""
    _say("outputs: " + ", ".join(escape(str(output / n)) for n in names), highlight=False, soft_wrap=True)


@lecture_app.command("hello")
def lecture_hello(cell: Cell = typer.Option("rnn", "--cell", help="Recurrent cell: rnn | lstm | gru."),
                  hidden: int = typer.Option(8, "--hidden", min=1, help="Hidden state size."),
                  steps: int = typer.Option(300, "--steps", min=1, help="Adam steps on the word 'hello'."),
                  impl: Impl = typer.Option(
                      "lecture", "--impl", help="lecture (the cells written from the equations) | fused (PyTorch)."),
                  gru_form: Optional[GruForm] = typer.Option(
                      None, "--gru-form", show_default=False,
                      help=_FORM_HELP + " Default: lecture, or pytorch with --impl fused (the only form it has)."),
                  seed: int = typer.Option(0, "--seed", help="Random seed (initial weights)."),
                  output: Optional[Path] = typer.Option(
                      None, "-o", "--output", help="Also write a run directory here: hello.png, metrics.json.")):
    """Train the char-level model on "hello" and generate from "h", showing the softmax at each step."""
    from ..api import lecture_hello

    try:
        res = lecture_hello(output, cell=cell, hidden=hidden, steps=steps, impl=impl, gru_form=gru_form, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--gru-form") from None
    letters = [k for k in res.steps[0] if k not in ("input", "chosen")]  # the softmax's letters: h, e, l, o
    t = Table(title=escape(f"{cell} ({impl}), {steps} steps: loss {res.losses[0]:.3f} → {res.losses[-1]:.5f}"))
    for col in ("step", "input", *(f"p({c})" for c in letters), "chosen"):
        t.add_column(escape(col), justify="right" if col.startswith("p(") else "left")
    for k, row in enumerate(res.steps, 1):
        t.add_row(str(k), escape(row["input"]), *[f"{row[c]:.3f}" for c in letters], escape(row["chosen"]))
    console.print(t)
    if res.gru_form:
        where = "before" if res.gru_form == "lecture" else "after"
        _say(f"GRU form: {res.gru_form} (reset gate {where} the recurrent product)", highlight=False)
    console.print(f"generated: [bold]{escape(res.generated)}[/]")
    if output:
        _say_outputs(output, "hello.png", "metrics.json", "config.json")


@lecture_app.command("params")
def lecture_params(input_size: int = typer.Option(32, "--input", min=1, help="Input (embedding) size I."),
                   hidden: int = typer.Option(256, "--hidden", min=1, help="Hidden state size H."),
                   layers: int = typer.Option(1, "--layers", min=1, help="Stacked recurrent layers.")):
    """Parameter counts of the three cells: from the formula and counted from the modules."""
    from ..api import lecture_params as parameter_table

    t = Table(title=f"input {input_size}, hidden {hidden}, {layers} layer(s)")
    for col in ("cell", "impl", "gru form", "formula", "counted", "equal"):
        t.add_column(col, justify="right" if col in ("formula", "counted") else "left")
    for r in parameter_table(input_size, hidden, layers):
        t.add_row(escape(r["cell"]), escape(r["impl"]), escape(r["gru_form"] or "-"), f"{r['formula']:,}",
                  f"{r['counted']:,}", "yes" if r["formula"] == r["counted"] else "NO")
    console.print(t)
    console.print("one gate: W is H×(H+I) acting on \\[h, x], plus bias b (H): rnn 1 gate, gru 3, lstm 4; "
                  "PyTorch keeps two biases per gate; the lecture's cells in PyTorch's GRU form add its recurrent "
                  "bias b_hh (H)")


@lecture_app.command("gradients")
def lecture_gradients(output: Path = typer.Option(Path("runs/gradients"), "-o", "--output",
                                                  help="Run directory for the figure, CSVs and metrics."),
                      data: str = typer.Option("sample", "--data", help="SMILES file or dataset name."),
                      hidden: int = typer.Option(128, "--hidden", min=1, help="Hidden state size."),
                      length: int = typer.Option(60, "--length", min=2, help="BPTT window T (tokens)."),
                      steps: int = typer.Option(300, "--steps", min=0,
                                                help="Training steps before the 'trained' profile."),
                      explode_steps: int = typer.Option(300, "--explode-steps", min=1,
                                                        help="SGD steps of the exploding-gradient runs."),
                      gru_form: GruForm = typer.Option(
                          "pytorch", "--gru-form",
                          help=_FORM_HELP + " Default pytorch: the model trains on the fused kernel and its "
                                            "profile is read from the lecture's twin with the same weights."),
                      seed: int = typer.Option(0, "--seed", help="Random seed (weights, windows, batches).")):
    """BPTT: ‖∂L/∂h_t‖ vs distance for rnn/lstm/gru (init and trained); exploding gradients and clipping."""
    from ..api import lecture_gradients

    metrics = lecture_gradients(output, data=data, hidden=hidden, length=length, steps=steps,
                                explode_steps=explode_steps, seed=seed, gru_form=gru_form)
    t = Table(title=f"‖∂L/∂h_(T−d)‖ / ‖∂L/∂h_T‖ at d = {metrics['ratio_distance']}")
    for col in ("cell", "init", "trained"):
        t.add_column(col)
    for c, r in metrics["ratios"].items():
        t.add_row(escape(c + (f" ({gru_form} form)" if c == "gru" else "")), f"{r['init']:.3g}",
                  f"{r['trained']:.3g}")
    console.print(t)
    for name, e in metrics["explode"].items():
        (err_console if e["exploded"] else console).print(escape(f"{name}: {e['message']}"), highlight=False)
    _say_outputs(output, "gradients.png", "gradients.csv", "explode.csv", "metrics.json")


@lecture_app.command("long-range")
def lecture_long_range(output: Path = typer.Option(Path("runs/long_range"), "-o", "--output",
                                                   help="Run directory for the figure, CSV and metrics."),
                       data: str = typer.Option("sample", "--data", help="SMILES file or dataset name."),
                       n_train: int = typer.Option(9000, "--train-size", min=1, help="Training SMILES drawn."),
                       n_test: int = typer.Option(1000, "--test-size", min=1, help="Held-out SMILES scored."),
                       hidden: int = typer.Option(128, "--hidden", min=1, help="Hidden state size."),
                       steps: int = typer.Option(1500, "--steps", min=1,
                                                 help="Training steps per cell (same budget)."),
                       batch_size: int = typer.Option(64, "--batch-size", min=1, help="SMILES per training batch."),
                       gru_form: GruForm = typer.Option(
                           "pytorch", "--gru-form",
                           help=_FORM_HELP + " Default pytorch: all three cells train on fused kernels."),
                       seed: int = typer.Option(0, "--seed", help="Random seed (split, weights, batches).")):
    """Ring closures and branches: how well rnn/lstm/gru close them as the span grows."""
    from ..api import lecture_long_range

    results, table = lecture_long_range(output, data=data, n_train=n_train, n_test=n_test, hidden=hidden,
                                        steps=steps, batch_size=batch_size, seed=seed, gru_form=gru_form)
    t = Table(title=f"mean p(correct closing token) / top-1 accuracy by span; {steps} steps each")
    for col in ("kind", "span", "closings"):
        t.add_column(col, justify="right" if col == "closings" else "left")
    for c in results:
        t.add_column(escape(c), justify="right")
    for row in table:
        t.add_row(escape(row["kind"]), escape(row["span"]), f"{row['n']:,}",
                  *[f"{v['mean_p']:.3f} / {v['top1']:.2f}" if v else "-" for v in row["cells"].values()])
    console.print(t)
    for c, res in results.items():
        form = f" ({res['gru_form']} form)" if "gru_form" in res else ""
        _say(escape(f"{c}{form}: {res['parameters']:,} parameters, test token NLL {res['test_token_nll']:.3f}, "
                    f"{res['train_seconds']:.0f} s"), highlight=False)
    _say_outputs(output, "long_range.png", "long_range.csv", "metrics.json")
