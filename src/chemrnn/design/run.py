"""A design run: the loop sample → score → (diversity filter) → update, until a budget of scored molecules is
spent; every scored molecule recorded with its step and score parts; resumable after ``kill -9``.

A run directory holds ``config.json``, ``scored.csv`` (every sampled molecule: step, SMILES, canonical form,
score after the diversity filter, the raw score and each component), ``log.csv`` (the learning curve: mean score
after the filter and top-1/10/100 raw score vs molecules scored, validity, uniqueness, time split into
sample/score/update), ``state/`` (agent weights, Adam state and the optimizer's JSON state after the last finished
step: rerunning the same command resumes from it), and at the end ``top.csv``, ``top.png``, ``report.html`` and
``model/`` (the final agent).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from .. import chem
from ..errors import InputError
from .agent import Agent
from .diversity import DiversityFilter
from .optimizers import OPTIMIZERS
from ..scoring.quality import QualityFilter


UPDATE_SEED_OFFSET = 1 << 40  # the update's dropout seeds, apart from the sampling seeds of the same step


@dataclass
class DesignConfig:
    optimizer: str = "reinvent"
    prior: str = "shipped"
    budget: int = 5000  # sampled molecules handed to the scoring function (invalid and repeated ones included)
    batch_size: int = 128
    temperature: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto: a GPU where there is one | cpu | gpu | cuda | cuda:N
    max_length: int = 140
    starting_population: str | None = None
    options: dict = field(default_factory=dict)  # [design.<optimizer>]
    diversity_filter: dict = field(default_factory=lambda: {"kind": "scaffold", "bucket_size": 25, "min_score": 0.4})
    quality: dict = field(default_factory=lambda: {"preset": "default"})  # [quality]: chemrnn.scoring.quality

    def validate(self) -> "DesignConfig":
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"[design] optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        for name in ("budget", "batch_size", "max_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"[design] {name} must be a positive integer, not {getattr(self, name)!r}")
        if not self.temperature > 0:
            raise InputError(f"[design] temperature must be > 0, not {self.temperature!r}")
        if self.device not in ("auto", "cpu", "gpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise InputError(f"[design] device must be auto, cpu, gpu, cuda or cuda:N, not {self.device!r}")
        OPTIMIZERS[self.optimizer].check_options(self.options)
        DiversityFilter(**self.diversity_filter)  # refuses unknown kinds
        QualityFilter.from_config(self.quality)  # refuses unknown keys and bad values
        return self


def read_config(data: dict, source=None) -> tuple[DesignConfig, dict]:
    """``(DesignConfig, scoring table)`` from a parsed TOML run config; unknown tables or keys are refused."""
    where = f"{source}: " if source else ""
    bad = set(data) - {"design", "diversity_filter", "scoring", "quality"}
    if bad:
        raise InputError(f"{where}unknown table(s) {', '.join(sorted(bad))}; valid: design, diversity_filter, "
                         f"quality, scoring")
    if "scoring" not in data:
        raise InputError(f"{where}a design config needs a [scoring] table")
    design = dict(data.get("design", {}))
    known = {f.name for f in fields(DesignConfig)} - {"options", "diversity_filter", "quality"}
    opt_tables = {k: design.pop(k) for k in list(design) if k in OPTIMIZERS and isinstance(design[k], dict)}
    bad = set(design) - known
    if bad:
        raise InputError(f"{where}[design]: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(known))} "
                         f"and the tables {', '.join(f'[design.{o}]' for o in OPTIMIZERS)}")
    cfg = DesignConfig(**design)
    if cfg.optimizer not in OPTIMIZERS:  # before the sub-tables, whose message would name it as if it were known
        raise InputError(f"{where}[design] optimizer must be one of {', '.join(OPTIMIZERS)}, not {cfg.optimizer!r}")
    cfg.options = opt_tables.get(cfg.optimizer, {})
    other = set(opt_tables) - {cfg.optimizer}
    if other:
        raise InputError(f"{where}[design.{other.pop()}] given, but the optimizer is {cfg.optimizer}")
    df = dict(data.get("diversity_filter", {}))
    bad = set(df) - {"kind", "bucket_size", "min_score"}
    if bad:
        raise InputError(f"{where}[diversity_filter]: unknown key(s) {', '.join(sorted(bad))}; "
                         f"valid: kind, bucket_size, min_score")
    cfg.diversity_filter = {**DesignConfig().diversity_filter, **df}
    if "quality" in data:
        if not isinstance(data["quality"], dict):
            raise InputError(f"{where}[quality] must be a table, e.g. preset = \"default\"")
        cfg.quality = dict(data["quality"])
    try:
        cfg.validate()
    except InputError as exc:
        raise InputError(f"{where}{exc}") from None
    return cfg, data["scoring"]


def load_toml(path) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("no such config file", path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", path) from None


# ------------------------------------------------------------------------------------------ the loop
class DesignRun:
    """One optimization; ``run_dir`` None keeps everything in memory (the GuacaMol generator interface)."""

    LOG = ["step", "scored", "mean", "top1", "top10", "top100", "valid", "unique", "loss", "sample_s", "score_s",
           "update_s"]

    def __init__(self, cfg: DesignConfig, scoring, run_dir=None, progress=None):
        from ..models.language import load_language_model
        from ..tokens import get_tokenizer
        from ..utils import torch_device

        self.cfg, self.scoring = cfg.validate(), scoring
        self.run_dir = Path(run_dir) if run_dir else None
        self.say = progress or (lambda msg: None)
        device = torch_device(cfg.device)
        model, vocab, tok, self.prior_meta = load_language_model(cfg.prior, device=device)
        self.agent = Agent(model, vocab, get_tokenizer(tok), device, cfg.max_length)
        dev = torch.device(device)
        self._rng_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] \
            if dev.type == "cuda" else []
        prior = None
        if cfg.optimizer == "reinvent":
            pm, _, _, _ = load_language_model(cfg.prior, device=device)
            prior = Agent(pm, vocab, get_tokenizer(tok), device, cfg.max_length)
        self.optimizer = OPTIMIZERS[cfg.optimizer](self.agent, prior, **cfg.options)
        self.filter = DiversityFilter(**cfg.diversity_filter)
        self.quality = QualityFilter.from_config(cfg.quality)
        self._quality_seen: dict[str, str | None] = {}  # canonical SMILES → the quality filter's reason
        self.step, self.scored = 0, 0
        # every distinct valid molecule's raw score: the objective itself (the diversity filter shapes what the
        # optimizer learns from, not which molecules are best)
        self.best: dict[str, float] = {}
        self.columns = list(getattr(scoring, "names", []))

    # ------------------------------------------------------------------------------- scoring
    def _score(self, smiles: list[str]):
        """(total, component desirabilities [n, k], canonical, quality reasons) for a list of strings; invalid
        ones score 0, a molecule the quality filter rejects scores its penalty (the reason kept)."""
        from ..scoring import ScoringFunction

        if isinstance(self.scoring, ScoringFunction):
            sc = self.scoring.score(smiles)
            comps = np.stack([sc.components[n] for n in self.columns], 1) if self.columns else None
            total, comps, canon = sc.total, comps if comps is not None else np.zeros((len(smiles), 0)), sc.canonical
        else:
            canon = [chem.canonical_or_none(s) if s else None for s in smiles]
            ok = [i for i, c in enumerate(canon) if c is not None]
            total = np.zeros(len(smiles))
            if ok:
                total[ok] = np.nan_to_num(np.asarray(self.scoring([smiles[i] for i in ok]), dtype=float), nan=0.0)
            total, comps = np.clip(total, 0.0, None), np.zeros((len(smiles), 0))
        reasons = self.quality_reasons(canon)
        failed = [i for i, r in enumerate(reasons) if r]
        if failed:
            total = np.array(total, dtype=float)
            total[failed] = np.minimum(total[failed], self.quality.penalty)
        return total, comps, canon, reasons

    def quality_reasons(self, canonical: list[str | None]) -> list[str | None]:
        """The quality filter's reason for each canonical SMILES (None: passes, or no filter), cached per run."""
        if not self.quality.active:
            return [None] * len(canonical)
        todo = sorted({c for c in canonical if c and c not in self._quality_seen})
        self._quality_seen.update(zip(todo, self.quality.reasons(todo)))
        return [self._quality_seen[c] if c else None for c in canonical]

    def _record_best(self, canonical, scores) -> None:
        """Each valid molecule's best raw score so far."""
        for c, s in zip(canonical, scores):
            if c:
                self.best[c] = max(float(s), self.best.get(c, 0.0))

    def seed_population(self, smiles: list[str], lines: list[int] | None = None) -> None:
        """Score a starting population and hand it to the optimizer (the hill-climber's pool, REINVENT's replay
        buffer; Segler's cycle fine-tunes on its best first). Scoring it spends budget like any sampled molecule.
        With a run folder, the invalid SMILES go to ``starting_population_rejects.csv`` (file line when ``lines``
        gives them, reason, SMILES)."""
        if not smiles:
            return
        total, _, canon, _ = self._score(smiles)
        self.scored += len(smiles)
        keep = [i for i, c in enumerate(canon) if c is not None]
        self._record_best([canon[i] for i in keep], total[keep])
        if hasattr(self.optimizer, "seed_population"):
            self.optimizer.seed_population([canon[i] for i in keep], total[keep])
        bad = [i for i, c in enumerate(canon) if c is None]
        note = ""
        if bad and self.run_dir is not None:
            from ..io import write_rejects

            rejects = self.run_dir / "starting_population_rejects.csv"
            write_rejects(rejects, ((lines[i] if lines else i + 1, "invalid SMILES (RDKit cannot parse it)",
                                    smiles[i]) for i in bad))
            note = f"; {len(bad):,} invalid in {rejects}"
        self.say(f"starting population: {len(keep):,} valid of {len(smiles):,} (scored, counted in the budget)"
                 + note)

    def run_step(self) -> dict:
        cfg, k = self.cfg, self.step
        n = min(cfg.batch_size, cfg.budget - self.scored)
        t0 = time.perf_counter()
        batch = self.agent.sample(n, seed=cfg.seed * 1_000_003 + k, temperature=cfg.temperature)
        t1 = time.perf_counter()
        raw, comps, canon, reasons = self._score(batch.smiles)
        filtered = self.filter.apply(canon, raw)
        t2 = time.perf_counter()
        with torch.random.fork_rng(devices=self._rng_devices):
            # dropout in the update: seeded per step (apart from the sampling seed), so reruns agree on CPU
            torch.manual_seed(UPDATE_SEED_OFFSET + cfg.seed * 1_000_003 + k)
            info = self.optimizer.step(k, batch, canon, filtered)
        t3 = time.perf_counter()
        self.step, self.scored = k + 1, self.scored + n
        self._record_best(canon, raw)
        rows = [{"step": k, "smiles": s, "canonical": c or "", "score": f"{f:.6g}", "raw_score": f"{r:.6g}",
                 **{name: f"{comps[i, j]:.6g}" for j, name in enumerate(self.columns)}, "quality": reasons[i] or ""}
                for i, (s, c, f, r) in enumerate(zip(batch.smiles, canon, filtered, raw))]
        top = sorted(self.best.values(), reverse=True)
        valid = [c for c in canon if c is not None]
        log = {"step": k, "scored": self.scored, "mean": _shown(np.mean(filtered)),
               "top1": _shown(top[0]) if top else 0.0, "top10": _shown(np.mean(top[:10])) if top else 0.0,
               "top100": _shown(np.mean(top[:100])) if top else 0.0, "valid": _shown(len(valid) / n),
               "unique": _shown(len(set(valid)) / n), "loss": _shown(info.get("loss")),
               "sample_s": round(t1 - t0, 3), "score_s": round(t2 - t1, 3), "update_s": round(t3 - t2, 3)}
        return {"rows": rows, "log": log}

    # --------------------------------------------------------------------------- persistence
    def _state_dir(self) -> Path:
        return self.run_dir / "state"

    def save_state(self) -> None:
        """Agent weights, Adam moments (safetensors) and the JSON state, swapped in atomically."""
        from safetensors.torch import save_file

        final = self._state_dir()
        tmp = self.run_dir / ".state.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.agent.model.state_dict().items()},
                  str(tmp / "agent.safetensors"))
        opt = self.optimizer.optimizer.state_dict()
        tensors = {f"{i}.{name}": (t if torch.is_tensor(t) else torch.tensor(t)).detach().cpu().contiguous()
                   for i, st in opt["state"].items() for name, t in st.items()}
        save_file(tensors or {"_empty": torch.zeros(1)}, str(tmp / "optim.safetensors"))
        state = {"step": self.step, "scored": self.scored, "best": self.best, "best_scores": "raw",
                 "filter": self.filter.state(),
                 "optimizer": self.optimizer.state(), "param_groups": opt["param_groups"]}
        (tmp / "state.json").write_text(json.dumps(state))
        old = self.run_dir / ".state.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    def _raw_best_from_scored_csv(self) -> None:
        """A state saved before chemrnn ranked by the raw score kept the filtered one: the saved steps' raw scores
        from ``scored.csv`` (a filter only ever lowers a score, so the maximum is the raw score; the starting
        population, not in the file, was never filtered)."""
        path = self.run_dir / "scored.csv"
        if not path.exists():
            return
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["step"]) < self.step]
        self._record_best([r["canonical"] for r in rows], [r["raw_score"] for r in rows])

    def load_state(self) -> bool:
        from safetensors.torch import load_file

        d = self._state_dir()
        if self.run_dir is None or not (d / "state.json").exists():
            return False
        state = json.loads((d / "state.json").read_text())
        self.agent.model.load_state_dict(load_file(str(d / "agent.safetensors")))
        tensors = load_file(str(d / "optim.safetensors"))
        opt_state: dict = {}
        for key, t in tensors.items():
            if key == "_empty":
                continue
            i, name = key.split(".", 1)
            opt_state.setdefault(int(i), {})[name] = t
        self.optimizer.optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
        self.step, self.scored, self.best = state["step"], state["scored"], state["best"]
        if state.get("best_scores") != "raw":
            self._raw_best_from_scored_csv()
        self.filter.restore(state["filter"])
        self.optimizer.restore(state["optimizer"])
        return True


def _shown(value, places: int = 4):
    """A figure as the reports show it (log.csv, metrics.json, report.html): rounded to ``places`` decimals, not
    float noise such as 0.8166666666666667 (every scored molecule keeps 6 significant digits in scored.csv)."""
    return None if value is None else round(float(value), places)


def _append(path: Path, rows: list[dict], header: list[str]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())


def _changed(before: dict, now: dict) -> list[str]:
    """The design settings that differ from a saved run's, budget aside: ``sigma: 120 → 60`` (options and the
    diversity filter key by key)."""
    out = []
    for key, value in now.items():
        old = before.get(key)
        if key == "budget" or old == value:
            continue
        if isinstance(value, dict) and isinstance(old, dict):
            out += [f"{key}.{k}: {old.get(k, '(unset)')} → {value.get(k, '(unset)')}"
                    for k in sorted(set(old) | set(value)) if old.get(k) != value.get(k)]
        else:
            out.append(f"{key}: {old} → {value}")
    return out


def _starting_population(cfg: DesignConfig) -> tuple[list[str], list[int]]:
    """The starting population's SMILES with their file lines; one with no SMILES at all (an empty file, blank
    lines only) is refused, naming the file."""
    from ..datasets import resolve_input, smiles_column
    from ..io import read_rows

    path = resolve_input(cfg.starting_population)
    rows = [r for r in read_rows(path, column=smiles_column(cfg.starting_population)) if r.smiles]
    if not rows:
        raise InputError("the starting population has no SMILES (blank lines only)", path)
    return [r.smiles for r in rows], [r.line for r in rows]


def run_design(config_path, run_dir, restart: bool = False, progress=None) -> dict:
    """``chemrnn design run CONFIG -o RUN``: optimize until the budget is spent (resuming a killed run), then write
    the top molecules, the report and the final agent; returns the summary. One process at a time runs in a run
    directory: it holds the directory's lock (:func:`~chemrnn.training.lock.run_lock`) for the whole run, and a
    second one is refused (:class:`InputError`) before it writes anything."""
    from ..scoring import ScoringFunction
    from ..training.lock import run_lock

    say = progress or (lambda msg: None)
    data = load_toml(config_path)
    cfg, scoring_cfg = read_config(data, config_path)
    try:
        scoring = ScoringFunction.from_config(scoring_cfg)  # bad components fail here, before any work
    except InputError as exc:
        raise (exc if exc.path is not None else InputError(f"[scoring] {exc.reason}", config_path)) from None
    run_dir = Path(run_dir)
    run = DesignRun(cfg, scoring, run_dir, say)  # a bad prior fails here, before anything is written
    population = None
    if cfg.starting_population and (restart or not (run_dir / "state" / "state.json").exists()):
        population = _starting_population(cfg)  # and a bad starting population too
    created = not run_dir.exists()
    try:
        with run_lock(run_dir, f"design run {config_path} -o {run_dir}"):
            return _run_locked(run, cfg, scoring_cfg, config_path, run_dir, restart, population, say)
    except InputError:
        if created and run_dir.is_dir() and not any(p.name != ".lock" for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)  # refused before anything was written: leave nothing
        raise


def _run_locked(run: DesignRun, cfg: DesignConfig, scoring_cfg: dict, config_path, run_dir: Path, restart: bool,
                population, say) -> dict:
    """:func:`run_design` once the run directory is locked: whether this is a fresh start is decided here, where
    no other process can change it."""
    from ..io import truncate_csv
    from ..runinfo import hardware, record, versions, write_json

    saved = run_dir / "config.json"
    fresh = restart or not (run_dir / "state" / "state.json").exists()
    if fresh and cfg.starting_population and population is None:  # a run finished since the first look
        population = _starting_population(cfg)
    if restart and run_dir.exists():
        for name in ("state", "scored.csv", "log.csv"):
            p = run_dir / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    if (run_dir / "state" / "state.json").exists():
        before = json.loads(saved.read_text())["config"]
        now = {"design": asdict(cfg), "scoring": scoring_cfg}
        changed = _changed(before["design"], now["design"])
        if changed or before["scoring"] != scoring_cfg:
            raise InputError(f"{run_dir} holds a design run with other settings ({', '.join(changed) or 'scoring'}); "
                             f"rerun with the same config (only budget may change) or pass --restart")
    if fresh:  # a new start: no rejects file left from an earlier population
        (run_dir / "starting_population_rejects.csv").unlink(missing_ok=True)
    record(run_dir, {"design": asdict(cfg), "scoring": scoring_cfg, "source": str(config_path)})
    if run.load_state():
        say(f"resuming at step {run.step} ({run.scored:,} molecules scored)")
    elif fresh and population is not None:
        run.seed_population(*population)
    truncate_csv(run_dir / "scored.csv", run.step - 1)  # rows of steps after the saved state go
    truncate_csv(run_dir / "log.csv", run.step - 1)
    header = ["step", "smiles", "canonical", "score", "raw_score", *run.columns, "quality"]
    t0 = time.perf_counter()
    while run.scored < cfg.budget:
        out = run.run_step()
        _append(run_dir / "scored.csv", out["rows"], header)
        _append(run_dir / "log.csv", [out["log"]], DesignRun.LOG)
        run.save_state()
        lg = out["log"]
        say(f"step {lg['step']}: {lg['scored']:,}/{cfg.budget:,} scored, mean {lg['mean']:.3f}, "
            f"top-1 {lg['top1']:.3f}, top-10 {lg['top10']:.3f}, valid {lg['valid']:.2f}")
    summary = finish(run, run_dir, time.perf_counter() - t0)
    summary.update({"versions": versions(), "hardware": hardware()})
    write_json(run_dir / "metrics.json", summary)
    return summary


def finish(run: DesignRun, run_dir: Path, seconds: float) -> dict:
    """Top molecules (CSV + grid), the final agent as a model file, the learning curve plot and the report."""
    from ..io import atomic_write
    from ..models.language import save_language_model

    top = sorted(run.best.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
    with atomic_write(run_dir / "top.csv") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["rank", "smiles", "score", "quality"])
        flags = top_quality_flags(run, [s for s, _ in top])
        for r, ((s, v), flag) in enumerate(zip(top, flags), 1):
            w.writerow([r, s, f"{v:.6g}", flag])
    png = chem.grid_png([s for s, _ in top[:24]], legends=[f"{v:.3f}" for _, v in top[:24]])
    if png:
        with atomic_write(run_dir / "top.png", "wb") as fh:
            fh.write(png)
    save_language_model(run_dir / "model", run.agent.model, run.agent.vocabulary, run.prior_meta["tokenizer"],
                        {"design": asdict(run.cfg), "steps": run.step, "scored": run.scored})
    vals = [v for _, v in top]
    summary = {"optimizer": run.cfg.optimizer, "prior": run.cfg.prior, "steps": run.step, "scored": run.scored,
               "distinct_valid": len(run.best), "top1": _shown(vals[0]) if vals else 0.0,
               "top10": _shown(np.mean(vals[:10])) if vals else 0.0,
               "top100": _shown(np.mean(vals[:100])) if vals else 0.0, "seconds_this_session": round(seconds, 1),
               "best": [[s, _shown(v)] for s, v in top[:10]]}
    _plot_curve(run_dir)
    _write_report(run_dir, summary, top)
    return summary


def top_quality_flags(run: DesignRun, smiles: list[str]) -> list[str]:
    """``ok`` or the reason, for each top molecule: by the run's quality filter, or, where the run has none, by the
    default preset (a flag for the reader; it did not change the scores)."""
    if run.quality.active:
        reasons = run.quality_reasons(smiles)  # cached while the run scored them
    else:
        reasons = QualityFilter.from_config({"preset": "default"}).reasons(smiles)
    return [r or "ok" for r in reasons]


def _write_report(run_dir: Path, summary: dict, top: list) -> None:
    """``report.html``: the summary, the learning curve, the best molecules (grid and table); self-contained."""
    import base64
    import html

    from ..io import atomic_write

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


def _plot_curve(run_dir: Path) -> None:
    from ..utils import pyplot, save_fig

    path = run_dir / "log.csv"
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    x = [int(r["scored"]) for r in rows]
    for key in ("mean", "top1", "top10", "top100"):
        ax.plot(x, [float(r[key]) for r in rows], label=key)
    ax.set_xlabel("molecules scored")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.set_title("design run: score vs molecules scored")
    fig.tight_layout()
    save_fig(fig, run_dir / "learning_curve.png")


# ------------------------------------------------------------------------------------ GuacaMol interface
class GoalDirectedGenerator:
    """``generate_optimized_molecules(scoring_function, number_molecules, starting_population=None)``: the interface
    of GuacaMol's ``GoalDirectedGenerator`` (duck-typed; guacamol is not needed), so that GuacaMol's own benchmark can
    drive chemrnn. ``scoring_function`` is a chemrnn :class:`~chemrnn.scoring.ScoringFunction`, any callable taking a
    list of SMILES, or an object with GuacaMol's ``score_list``. Each call runs a fresh in-memory design run of
    ``budget`` scored molecules from the prior (with ``budget_after_population``: ``budget`` sampled molecules after
    the starting population, whatever its size) and returns the best distinct molecules found (stereoisomers count as
    one molecule, as GuacaMol counts them: :func:`best_distinct`).

    ``stop_at``: end a call early once the best ``number_molecules`` distinct molecules all score at least this.
    Give the objective's maximum (GuacaMol's scores lie in [0, 1]: ``stop_at=1.0``): then a task at its maximum
    spends no more budget, and the scores it returns are those the full budget would give (the best found can only
    improve). ``snapshots``: numbers of sampled molecules (after the population; multiples of ``batch_size``) at
    which the scores of the molecules the call would have returned are kept in ``last_snapshots`` — one run gives
    the score at several budgets; marks after an early stop get the final scores. ``quality``: the quality
    filter, a preset name (``default``, ``strict``, ``none``) or a ``[quality]`` table as a dict
    (:mod:`chemrnn.scoring.quality`): a molecule it rejects scores 0 and is never returned."""

    def __init__(self, optimizer: str = "reinvent", prior: str = "shipped", budget: int = 5000, batch_size: int = 128,
                 seed: int = 0, options: dict | None = None, diversity_filter: dict | None = None,
                 device: str = "auto", progress=None, population: str | None = None, population_size: int = 0,
                 budget_after_population: bool = False, stop_at: float | None = None,
                 snapshots: tuple[int, ...] = (), quality: str | dict = "default"):
        self.cfg = DesignConfig(optimizer=optimizer, prior=prior, budget=budget, batch_size=batch_size, seed=seed,
                                device=device, options=dict(options or {}),
                                quality={"preset": quality} if isinstance(quality, str) else dict(quality),
                                diversity_filter={**DesignConfig().diversity_filter, **(diversity_filter or {})})
        self.cfg.validate()
        self.progress = progress
        self.population, self.population_size = population, population_size
        self.budget_after_population = budget_after_population
        self.last_run: DesignRun | None = None
        self.last_population = 0  # the size of the last call's starting population
        self.stop_at, self.snapshots = stop_at, tuple(sorted(snapshots))
        bad = [m for m in self.snapshots if m <= 0 or m % batch_size or m > budget]
        if bad:
            raise InputError(f"snapshots must be positive multiples of the batch size ({batch_size}) within the "
                             f"budget ({budget}), not {bad}")
        self.last_snapshots: dict[int, list[float]] = {}  # sampled molecules → the best distinct molecules' scores

    def starting_molecules(self, given: list[str] | None) -> list[str]:
        """The benchmark's starting population if it gives one, else a seeded random draw of ``population_size``
        molecules from the dataset or file ``population`` (e.g. ``chembl``, as GuacaMol's hill-climber starts from
        its training set); the draw is scored and counted in the budget."""
        if given:
            return list(given)
        if not self.population or not self.population_size:
            return []
        import random

        from ..datasets import resolve_input, smiles_column
        from ..io import load_smiles_list

        pool = load_smiles_list(resolve_input(self.population), smiles_column(self.population))
        return random.Random(self.cfg.seed).sample(pool, min(self.population_size, len(pool)))

    def generate_optimized_molecules(self, scoring_function, number_molecules: int,
                                     starting_population: list[str] | None = None) -> list[str]:
        score = scoring_function
        if hasattr(scoring_function, "score_list"):
            score = scoring_function.score_list  # noqa: E731  (GuacaMol scores invalid molecules -1: clipped to 0)
        start = self.starting_molecules(starting_population)
        self.last_population = len(start)
        cfg = self.cfg
        if self.budget_after_population:
            cfg = replace(cfg, budget=cfg.budget + len(start))
        run = DesignRun(cfg, score, None, self.progress)
        run.seed_population(start)
        self.last_snapshots = {}
        while run.scored < cfg.budget and not self._at_target(run.best, number_molecules):
            run.run_step()
            if run.scored - len(start) in self.snapshots:
                self._snapshot(run, number_molecules, run.scored - len(start))
        self.last_run = run
        chosen = best_distinct(run.best, number_molecules)
        for mark in self.snapshots:  # stopped at the maximum: a larger budget would give the same scores
            if mark not in self.last_snapshots and mark <= cfg.budget - len(start):
                self.last_snapshots[mark] = [run.best[s] for s in chosen]
        return chosen

    def _snapshot(self, run: DesignRun, n: int, mark: int) -> None:
        self.last_snapshots[mark] = [run.best[s] for s in best_distinct(run.best, n)]

    def _at_target(self, best: dict[str, float], n: int) -> bool:
        """Whether the best ``n`` distinct molecules all reach ``stop_at`` (a cheap count first)."""
        if self.stop_at is None or sum(v >= self.stop_at for v in best.values()) < n:
            return False
        chosen = best_distinct(best, n)
        return len(chosen) == n and all(best[s] >= self.stop_at for s in chosen)


def best_distinct(best: dict[str, float], n: int) -> list[str]:
    """The ``n`` best molecules of ``best`` (canonical SMILES → score), distinct as GuacaMol counts them: GuacaMol
    strips stereochemistry from the molecules a generator returns, keeps one of each, and pads the list with zeros,
    so stereoisomers of one molecule would take the places of other molecules. Each molecule is returned in its
    best-scoring form (ties: the smaller string). The key is GuacaMol's: RDKit's sanitized parse (explicit hydrogens
    removed), SMILES without stereo (:func:`chemrnn.chem.stereo_free`); a string RDKit cannot read is left out, as
    GuacaMol leaves it out."""
    chosen: list[str] = []
    seen: set[str] = set()
    for smiles, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
        flat = chem.stereo_free(smiles)
        if flat is None:
            continue
        if flat not in seen:
            seen.add(flat)
            chosen.append(smiles)
            if len(chosen) == n:
                break
    return chosen
