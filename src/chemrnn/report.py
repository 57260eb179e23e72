"""HTML reports: a metrics table, descriptor histograms against the reference, a grid of molecules.

Plots are embedded as PNG (base64), so a report is one self-contained file.
"""
from __future__ import annotations

import base64
import html
import io
import time

import numpy as np

from . import chem


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def descriptor_histograms(gen_desc: np.ndarray, ref_desc: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in chem.KL_DESCRIPTORS]
    fig, axes = plt.subplots(3, 3, figsize=(11, 8))
    for k, ax in enumerate(axes.flat):
        lo = min(gen_desc[:, k].min(), ref_desc[:, k].min())
        hi = max(gen_desc[:, k].max(), ref_desc[:, k].max())
        bins = np.linspace(lo, hi + 1e-9, 40)
        ax.hist(ref_desc[:, k], bins=bins, density=True, alpha=0.5, label="reference")
        ax.hist(gen_desc[:, k], bins=bins, density=True, alpha=0.5, label="generated")
        ax.set_title(names[k], fontsize=9)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def molecule_grid(smiles: list[str], n: int = 24, per_row: int = 6) -> str:
    png = chem.grid_png(smiles[:n], per_row)
    return base64.b64encode(png).decode() if png else ""


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return html.escape(str(v))


def write_report(path, title: str, metrics: dict, gen_desc=None, ref_desc=None, molecules=None,
                 notes: dict | None = None) -> None:
    """One self-contained HTML page (written atomically)."""
    from .io import atomic_write

    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in metrics.items()
                   if not isinstance(v, dict) and not k.startswith("_"))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p>{time.strftime('%Y-%m-%d %H:%M')}</p>",
             f"<h2>Metrics</h2><table>{rows}</table>"]
    for name, sub in metrics.items():
        if isinstance(sub, dict):
            r = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in sub.items())
            parts.append(f"<h3>{html.escape(name)}</h3><table>{r}</table>")
    if gen_desc is not None and ref_desc is not None and len(gen_desc) and len(ref_desc):
        png = descriptor_histograms(gen_desc, ref_desc)
        parts.append("<h2>Descriptor distributions</h2>"
                     f"<img alt='descriptor histograms' src='data:image/png;base64,{png}'>")
    if molecules:
        grid = molecule_grid(molecules)
        if grid:
            parts.append(f"<h2>Sampled molecules</h2><img alt='molecules' src='data:image/png;base64,{grid}'>")
    if notes:
        r = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in notes.items())
        parts.append(f"<h2>Run</h2><table>{r}</table>")
    parts.append("</body></html>")
    with atomic_write(path) as fh:
        fh.write("\n".join(parts))
