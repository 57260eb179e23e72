"""HTML reports of sampled molecules: the metrics beside published anchors, which way is better for each, the
cautions that apply to this sample, descriptor distributions against the reference, a grid of molecules with their
SMILES and marks, and (from the main job) a property model's predictions beside RDKit's values.

Plots are embedded as PNG (base64), so a report is one self-contained file; files next to it are linked.
"""
from __future__ import annotations

import base64
import html
import io
import os
import time
from pathlib import Path

import numpy as np

from . import chem
from .io import atomic_write

# MOSES (Polykovskiy et al. 2020, Front. Pharmacol.; the table of github.com/molecularsets/moses, README): means over
# three runs of 30,000 samples each, against the whole MOSES test set (176,074 molecules).
ANCHOR_SOURCE = ("MOSES paper / README (Polykovskiy et al. 2020): mean of 3 runs × 30,000 samples, against the "
                 "whole MOSES test set (176,074 molecules)")
ANCHORS = {
    "MOSES CharRNN": {"validity": 0.9748, "unique@1k": 1.0, "unique@10k": 0.9994, "novelty": 0.8419,
                      "FCD": 0.0732, "SNN": 0.6015, "Frag": 0.9998, "Scaf": 0.9242, "IntDiv1": 0.8562,
                      "IntDiv2": 0.8503},
    "MOSES train set": {"validity": 1.0, "unique@1k": 1.0, "unique@10k": 1.0, "FCD": 0.008, "SNN": 0.6419,
                        "Frag": 1.0, "Scaf": 0.9907, "IntDiv1": 0.8567, "IntDiv2": 0.8508},
}

# metric -> (which way is better, what it measures)
METRICS = {
    "validity": ("↑ higher", "fraction of samples RDKit can parse"),
    "unique@1k": ("↑ higher", "distinct canonical SMILES among the first 1,000 valid"),
    "unique@10k": ("↑ higher", "distinct canonical SMILES among the first 10,000 valid"),
    "unique": ("↑ higher", "distinct canonical SMILES among all valid"),
    "novelty": ("↑ higher", "unique valid molecules not in the training set"),
    "train_molecules": ("", "distinct valid molecules of the training set that novelty is measured against"),
    "FCD": ("↓ lower", "Fréchet ChemNet Distance to the reference (0: same distribution)"),
    "SNN": ("↑ higher", "mean Tanimoto similarity to the nearest reference molecule"),
    "Frag": ("↑ higher", "cosine similarity of BRICS fragment counts with the reference"),
    "Scaf": ("↑ higher", "cosine similarity of Bemis–Murcko scaffold counts with the reference"),
    "IntDiv1": ("↑ higher (MOSES); best near the data's own", "1 − mean pairwise Tanimoto similarity"),
    "IntDiv2": ("↑ higher (MOSES); best near the data's own", "1 − root mean square pairwise Tanimoto similarity"),
    "KL_score": ("↑ higher", "GuacaMol: mean exp(−KL) of descriptor distributions vs the reference (1: same)"),
    "n": ("", "samples read (blank and invalid ones included)"),
}

# descriptor -> (label, axis title); which are integers comes from chem.KL_DESCRIPTORS
DESCRIPTOR_LABELS = {
    "BertzCT": ("Bertz complexity", "BertzCT"), "MolLogP": ("logP (Crippen)", "logP"),
    "MolWt": ("molecular weight", "MW / Da"), "TPSA": ("TPSA", "TPSA / Å²"),
    "NumHAcceptors": ("H-bond acceptors (HBA)", "HBA count"), "NumHDonors": ("H-bond donors (HBD)", "HBD count"),
    "NumRotatableBonds": ("rotatable bonds", "rotatable bonds"),
    "NumAliphaticRings": ("aliphatic rings", "aliphatic rings"),
    "NumAromaticRings": ("aromatic rings", "aromatic rings"),
}
SMALL = 10_000  # below this many samples or reference molecules, FCD (and SNN, Scaf) read worse than at scale


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def descriptor_histograms(gen_desc: np.ndarray, ref_desc: np.ndarray) -> str:
    """:func:`descriptor_figure` as base64 PNG."""
    return _png(descriptor_figure(gen_desc, ref_desc))


def descriptor_figure(gen_desc: np.ndarray, ref_desc: np.ndarray):
    """One panel per KL descriptor: continuous ones as density histograms, integer ones (HBA, HBD, rings, rotatable
    bonds) as bars at each value (fraction of molecules), the reference beside the samples; axes labelled."""
    plt = _pyplot()
    fig, axes = plt.subplots(3, 3, figsize=(12, 9))
    for k, (ax, (name, kind)) in enumerate(zip(axes.flat, chem.KL_DESCRIPTORS)):
        label, axis = DESCRIPTOR_LABELS.get(name, (name, name))
        g, r = gen_desc[:, k], ref_desc[:, k]
        if kind == "discrete":
            values = np.arange(int(min(g.min(), r.min())), int(max(g.max(), r.max())) + 1)
            for offset, data, who in ((-0.2, r, "reference"), (0.2, g, "samples")):
                frac = np.array([(data == v).mean() for v in values])
                ax.bar(values + offset, frac, width=0.4, label=who)
            ax.set_xticks(values if len(values) <= 12 else values[:: max(1, len(values) // 10)])
            ax.set_ylabel("fraction of molecules")
        else:
            bins = np.linspace(min(g.min(), r.min()), max(g.max(), r.max()) + 1e-9, 40)
            ax.hist(r, bins=bins, density=True, alpha=0.5, label="reference")
            ax.hist(g, bins=bins, density=True, alpha=0.5, label="samples")
            ax.set_ylabel("density")
        ax.set_xlabel(axis)
        ax.set_title(label, fontsize=10)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def parity_plots(properties: dict) -> str:
    """Model vs RDKit, one panel per target, with the diagonal."""
    targets = list(properties.get("MAE", {}))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 4.2), squeeze=False)
    for ax, t in zip(axes.flat, targets):
        x, y = np.asarray(properties[f"{t}_rdkit"], float), np.asarray(properties[f"{t}_model"], float)
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=6, alpha=0.5)
        if ok.any():
            lo, hi = float(min(x[ok].min(), y[ok].min())), float(max(x[ok].max(), y[ok].max()))
            ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.set_xlabel(f"{t} (RDKit)")
        ax.set_ylabel(f"{t} (property model)")
        ax.set_title(f"{t}: MAE {properties['MAE'][t]:.3f}", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def molecule_grid(smiles: list[str], n: int = 24, per_row: int = 5, legends: list[str] | None = None) -> str:
    """The first ``n`` molecules drawn as a grid (base64 PNG): five 230-px cells a row fill the page's 1,150 px, and
    no grid is wider than :data:`chemrnn.chem.GRID_MAX_WIDTH`."""
    png = chem.grid_png(smiles[:n], per_row, size=(230, 190), legends=legends[:n] if legends else None)
    return base64.b64encode(png).decode() if png else ""


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4f}"
    return html.escape(str(v))


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _href(target, report_path: Path) -> str:
    """A link from the report to a file: relative where it can be, so a copied run folder keeps its links."""
    target = Path(target)
    try:
        return os.path.relpath(target.absolute(), report_path.absolute().parent)
    except ValueError:  # another drive
        return target.absolute().as_uri()


def cautions(metrics: dict) -> list[str]:
    """What to keep in mind when reading these numbers beside the anchors."""
    ref = metrics.get("reference", {}) if isinstance(metrics.get("reference"), dict) else {}
    n_ref = ref.get("n_ref")
    n_valid = round(metrics.get("validity", 0) * metrics.get("n", 0))
    out = []
    if "FCD" in metrics and (n_valid < SMALL or (n_ref or 0) < SMALL):
        out.append(f"FCD is biased upwards on small sets: here {n_valid:,} valid samples against "
                   f"{n_ref or 0:,} reference molecules; the MOSES figures use 30,000 samples against the whole "
                   f"test set (176,074). Compare FCD with the anchors only at that scale (see docs/benchmarks.md).")
    if n_ref and n_ref < 176_074:
        out.append(f"SNN and Scaf are measured against a random draw of {n_ref:,} reference molecules; they grow with "
                   f"the reference's size, so they read lower than the anchors' whole-test-set values.")
    if "unique@10k" not in metrics and metrics.get("n", 0):
        out.append("unique@10k needs 10,000 valid samples; 'unique' is over all valid samples here.")
    if "novelty" not in metrics:
        out.append("No novelty: no training set was given.")
    return out


def write_report(path, title: str, metrics: dict, gen_desc=None, ref_desc=None, molecules=None,
                 notes: dict | None = None, samples=None, marks: dict | None = None, properties: dict | None = None,
                 links: dict | None = None) -> None:
    """One self-contained HTML page (written atomically).

    ``molecules``: sampled strings in order (the grid draws the first valid ones with their SMILES under them;
    invalid ones are listed); ``marks``: canonical SMILES → a word under its drawing (``novel``, ``in train``);
    ``samples``: the samples file, linked; ``properties``: :func:`chemrnn.api.predicted_properties` of the samples
    (MAE table and parity plots); ``links``: more files to link, by label.
    """
    path = Path(path)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto}table{border-collapse:collapse;"
             "margin-bottom:1em}th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}"
             ".caution{background:#fff4e0;border-left:4px solid #e0a030;padding:6px 12px}"
             "td.num{text-align:right;font-variant-numeric:tabular-nums}.small{color:#555;font-size:90%}</style>"
             "</head><body>",
             f"<h1>{html.escape(title)}</h1><p class='small'>{time.strftime('%Y-%m-%d %H:%M')}</p>"]

    run = dict(notes or {})
    if samples is not None:
        run["samples"] = (f"<a href='{html.escape(_href(samples, path))}'>{html.escape(str(samples))}</a>"
                          if not isinstance(samples, list) else f"{len(samples):,} strings in memory")
    for label, target in (links or {}).items():
        run[label] = f"<a href='{html.escape(_href(target, path))}'>{html.escape(str(target))}</a>"
    if run:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{v if str(v).startswith('<a ') else html.escape(str(v))}"
                       f"</td></tr>" for k, v in run.items())
        parts.append(f"<h2>Run</h2><table>{rows}</table>")

    notes_html = "".join(f"<p class='caution'>{html.escape(c)}</p>" for c in cautions(metrics))
    anchor_names = list(ANCHORS)
    head = ("<tr><th>metric</th><th>this run</th><th>better</th>"
            + "".join(f"<th>{html.escape(a)}</th>" for a in anchor_names) + "<th>what it measures</th></tr>")
    order = [k for k in METRICS if k in metrics] + [k for k in metrics if k not in METRICS]
    rows = []
    for k in order:
        v = metrics[k]
        if isinstance(v, (dict, list)) or k.startswith("_"):
            continue
        better, meaning = METRICS.get(k, ("", ""))
        anchors = "".join(f"<td class='num'>{_fmt(ANCHORS[a][k]) if k in ANCHORS[a] else '—'}</td>"
                          for a in anchor_names)
        rows.append(f"<tr><th>{html.escape(k)}</th><td class='num'>{_fmt(v)}</td><td>{html.escape(better)}</td>"
                    f"{anchors}<td class='small'>{html.escape(meaning)}</td></tr>")
    parts.append(f"<h2>Metrics</h2>{notes_html}<table>{head}{''.join(rows)}</table>"
                 f"<p class='small'>Anchors: {html.escape(ANCHOR_SOURCE)}.</p>")
    for name, sub in metrics.items():
        if isinstance(sub, dict):
            r = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in sub.items())
            what = {"KL_terms": " (KL divergence of each descriptor's distribution from the reference's; 0 = the "
                                 "same; KL_score is the mean of exp(−KL))",
                    "seconds": " (time per step)"}.get(name, "")
            parts.append(f"<h3>{html.escape(name)}{html.escape(what)}</h3><table>{r}</table>")

    if gen_desc is not None and ref_desc is not None and len(gen_desc) and len(ref_desc):
        png = descriptor_histograms(np.asarray(gen_desc), np.asarray(ref_desc))
        parts.append("<h2>Descriptor distributions (samples vs reference)</h2>"
                     f"<img alt='descriptor distributions' src='data:image/png;base64,{png}'>")

    if properties and properties.get("MAE"):
        r = "".join(f"<tr><th>{html.escape(t)}</th><td class='num'>{_fmt(m)}</td></tr>"
                    for t, m in properties["MAE"].items())
        left = sum(bool(w) for w in properties.get("not_predicted", []))
        done = len(properties.get("smiles", [])) - left
        parts.append("<h2>Property model on the valid samples</h2>"
                     f"<p>{done:,} valid samples predicted by the property model, beside RDKit's values (per molecule "
                     f"in properties.csv)" + (f"; {left:,} it cannot read (tokens it never saw) are in the file with "
                                              "the reason, not predicted" if left else "") +
                     ".</p><table><tr><th>target</th><th>MAE vs RDKit"
                     f"</th></tr>{r}</table><img alt='parity plots' src='data:image/png;base64,"
                     f"{parity_plots(properties)}'>")

    if molecules:
        parts.append(_grid_section(list(molecules), marks or {}))
    parts.append("</body></html>")
    with atomic_write(path) as fh:
        fh.write("\n".join(parts))


def _grid_section(molecules: list[str], marks: dict, n: int = 24) -> str:
    """The first ``n`` valid samples drawn with their SMILES (and mark) under them; invalid samples met on the way
    listed below the grid."""
    drawn, legends, invalid, seen = [], [], [], 0
    for seen, s in enumerate(molecules, 1):
        can = chem.canonical_or_none(s) if s else None
        if can is None:
            if len(invalid) < 12:
                invalid.append((seen, s))
            continue
        drawn.append(s)
        mark = marks.get(can, "")
        legends.append(_short(s) + (f"  ({mark})" if mark else ""))
        if len(drawn) >= n:
            break
    out = [f"<h2>Sampled molecules</h2><p class='small'>The first {len(drawn)} valid samples in sampling order, with "
           "their SMILES" + (" and whether each is novel (not in the training set)" if marks else "") + ".</p>"]
    grid = molecule_grid(drawn, n, legends=legends)
    if grid:
        out.append(f"<img alt='molecules' src='data:image/png;base64,{grid}'>")
    if invalid:
        r = "".join(f"<tr><td class='num'>{k}</td><td><code>{html.escape(_short(s, 80)) or '(empty)'}</code></td>"
                    "<td>invalid</td></tr>" for k, s in invalid)
        out.append(f"<p>Invalid samples among the first {seen:,} samples (not drawn; the first 12 at most):</p>"
                   f"<table><tr><th>#</th><th>string</th><th></th></tr>{r}</table>")
    return "".join(out)


def design_report(run_dir: Path, summary: dict, top: list) -> None:
    """A design run's ``report.html``: the summary, the learning curve, the best molecules (grid and table);
    self-contained (the run folder's PNGs inlined)."""
    def img(name):
        f = run_dir / name
        return (f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}">'
                if f.exists() else "")

    rows = "".join(f"<tr><td>{r}</td><td><code>{html.escape(smi)}</code></td><td>{v:.4f}</td></tr>"
                   for r, (smi, v) in enumerate(top[:100], 1))
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in summary.items() if k != "best")
    page = (f"<!doctype html><meta charset='utf-8'><title>chemrnn design run</title>"
            f"<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{padding:2px 8px;"
            f"text-align:left}}</style><h1>Design run: {html.escape(str(summary['optimizer']))}</h1>"
            f"<p>Scores are in [0, 1], higher is better; every scored molecule is in <a href='scored.csv'>"
            f"scored.csv</a>, the learning curve in <a href='log.csv'>log.csv</a>, the final agent in "
            f"<code>model/</code>.</p><table>{facts}</table><h2>Learning curve</h2>{img('learning_curve.png')}"
            f"<h2>Best molecules</h2>{img('top.png')}<table><tr><th>rank</th><th>SMILES</th><th>score</th></tr>"
            f"{rows}</table>")
    with atomic_write(run_dir / "report.html") as fh:
        fh.write(page)
