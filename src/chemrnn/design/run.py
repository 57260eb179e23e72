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

import copy
import csv
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .. import chem
from ..datasets import resolve_input, smiles_column
from ..errors import InputError
from ..io import atomic_write, clip, read_rows, truncate_csv
from ..runinfo import hardware, record, versions, write_json
from ..scoring.quality import QualityFilter
from ..utils import torch_device
from .agent import Agent
from .config import DesignConfig, load_toml, read_config
from .diversity import DiversityFilter
from .optimizers import OPTIMIZERS
from .outputs import shown, finish


UPDATE_SEED_OFFSET = 1 << 40  # the update's dropout seeds, apart from the sampling seeds of the same step


# ------------------------------------------------------------------------------------------ the loop
class DesignRun:
    """One optimization; ``run_dir`` None keeps everything in memory (the GuacaMol generator interface)."""

    LOG = ["step", "scored", "mean", "top1", "top10", "top100", "valid", "unique", "loss", "sample_s", "score_s",
           "update_s"]

    def __init__(self, cfg: DesignConfig, scoring, run_dir=None, progress=None, *,
                 quality_cache: dict[str, str | None] | None = None):
        from ..models.language import load_language_model
        from ..tokens import get_tokenizer

        self.cfg, self.scoring = cfg.validate(), scoring
        self.run_dir = Path(run_dir) if run_dir else None
        self.say = progress or (lambda msg: None)
        device = torch_device(cfg.device)
        model, vocab, tok, self.prior_meta = load_language_model(cfg.prior, device=device)
        self.agent = Agent(model, vocab, get_tokenizer(tok), device, cfg.max_length)
        self.agent.constrain(cfg.constraints)
        dev = torch.device(device)
        self._rng_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] \
            if dev.type == "cuda" else []
        optimizer = OPTIMIZERS[cfg.optimizer]
        prior = None
        if optimizer.needs_prior:  # a frozen copy of the prior the agent starts from (REINVENT's anchor)
            prior = Agent(copy.deepcopy(model), vocab, get_tokenizer(tok), device, cfg.max_length)
        self.optimizer = optimizer(self.agent, prior, **cfg.options)
        self.filter = DiversityFilter(**cfg.diversity_filter)
        self.quality = QualityFilter.from_config(cfg.quality)
        # canonical SMILES → the quality filter's reason (a dict shared by runs of one quality config checks each once)
        self._quality_seen: dict[str, str | None] = {} if quality_cache is None else quality_cache
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

        failures = [None] * len(smiles)
        if isinstance(self.scoring, ScoringFunction):
            sc = self.scoring.score(smiles)
            failures = sc.failures or failures
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
        self.last_failures = failures  # why a component could not score each molecule (None: it could)
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
        fresh = self.scoring.take_fresh() if hasattr(self.scoring, "take_fresh") else []
        cache_rows = self.scoring.cache_rows(fresh) if fresh and self.run_dir is not None else []
        rows = [{"step": k, "smiles": s, "canonical": c or "", "score": f"{f:.6g}", "raw_score": f"{r:.6g}",
                 **{name: f"{comps[i, j]:.6g}" for j, name in enumerate(self.columns)}, "quality": reasons[i] or "",
                 "scoring_failure": self.last_failures[i] or ""}
                for i, (s, c, f, r) in enumerate(zip(batch.smiles, canon, filtered, raw))]
        top = sorted(self.best.values(), reverse=True)
        valid = [c for c in canon if c is not None]
        log = {"step": k, "scored": self.scored, "mean": shown(np.mean(filtered)),
               "top1": shown(top[0]) if top else 0.0, "top10": shown(np.mean(top[:10])) if top else 0.0,
               "top100": shown(np.mean(top[:100])) if top else 0.0, "valid": shown(len(valid) / n),
               # distinct among the valid, as every other chemrnn metric counts uniqueness
               "unique": shown(len(set(valid)) / len(valid)) if valid else 0.0, "loss": shown(info.get("loss")),
               "sample_s": round(t1 - t0, 3), "score_s": round(t2 - t1, 3), "update_s": round(t3 - t2, 3)}
        return {"rows": rows, "log": log, "cache_rows": [[k, *r] for r in cache_rows]}

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


def _append(path: Path, rows: list[dict], header: list[str]) -> None:
    """Rows appended to a CSV under its own header (written with ``header`` when new; a file a resumed run started
    under another header keeps it)."""
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), None) or header
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())


def _append_rows(path: Path, rows: list[list], header: list[str]) -> None:
    """Rows appended to a CSV (its header first when new), synced to disk."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(header)
        w.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())


def _scoring_key(scoring):
    """A scoring table as compared between sittings: a component without a modifier and one with ``identity`` are
    the same (a config written before bare components of other units were refused resumes with ``identity``)."""
    if not isinstance(scoring, dict):
        return scoring
    comps = [{**c, "modifier": "identity"} if isinstance(c, dict) and c.get("modifier") in (None, "identity",
                                                                                         {"type": "identity"}) else c
             for c in scoring.get("component", [])]
    return {**scoring, "component": comps}


def _recorded_scoring(saved: Path):
    """The scoring table a run folder's config.json records (None where there is none to read)."""
    try:
        return json.loads(saved.read_text())["config"]["scoring"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _complete_rows(path: Path, width: int) -> None:
    """Keep the complete rows of a CSV that a killed process may have left with a row half written (no line end, or
    too few fields)."""
    if not path.exists():
        return
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(whole.splitlines(keepends=True)))
    keep = [r for r in rows if len(r) == width]
    if whole != text or len(keep) < len(rows):
        with atomic_write(path) as fh:
            csv.writer(fh).writerows(keep)


def _changed(before: dict, now: dict) -> list[str]:
    """The design settings that differ from a saved run's, budget aside: ``sigma: 120 → 60`` (options and the
    diversity filter key by key)."""
    out = []
    for key, value in now.items():
        old = before.get(key)
        if key == "budget" or old == value or (key not in before and value == getattr(DesignConfig(), key, None)):
            continue  # a key added since the run was saved, at its default, changes nothing
        if isinstance(value, dict) and isinstance(old, dict):
            out += [f"{key}.{k}: {old.get(k, '(unset)')} → {value.get(k, '(unset)')}"
                    for k in sorted(set(old) | set(value)) if old.get(k) != value.get(k)]
        else:
            out.append(f"{key}: {old} → {value}")
    return out


def _starting_population(cfg: DesignConfig) -> tuple[list[str], list[int]]:
    """The starting population's SMILES with their file lines; one with no SMILES at all (an empty file, blank
    lines only) is refused, naming the file."""
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
    saved = run_dir / "config.json"
    scoring = run.scoring
    fresh = restart or not (run_dir / "state" / "state.json").exists()
    if fresh and cfg.starting_population and population is None:  # a run finished since the first look
        population = _starting_population(cfg)
    if restart and run_dir.exists():
        for name in ("state", "scored.csv", "log.csv", "score_cache.csv"):
            p = run_dir / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    if (run_dir / "state" / "state.json").exists():
        before = json.loads(saved.read_text())["config"]
        now = {"design": asdict(cfg), "scoring": scoring_cfg}
        changed = _changed(before["design"], now["design"])
        if changed or _scoring_key(before["scoring"]) != _scoring_key(scoring_cfg):
            raise InputError(f"{run_dir} holds a design run with other settings ({', '.join(changed) or 'scoring'}); "
                             f"rerun with the same config (only budget may change) or pass --restart")
    if fresh:  # a new start: no rejects file left from an earlier population
        (run_dir / "starting_population_rejects.csv").unlink(missing_ok=True)
    same_scoring = _scoring_key(_recorded_scoring(saved)) == _scoring_key(scoring_cfg)  # cached scores stay valid
    record(run_dir, {"design": asdict(cfg), "scoring": scoring_cfg, "source": str(config_path)})
    cache_file = run_dir / "score_cache.csv"  # every molecule's scores, exactly: a resumed run scores none again
    cache_header = ["step", *scoring.cache_header()]
    resumed = run.load_state()
    if resumed or same_scoring:  # a resume, or a start over a first step killed before it was saved
        _complete_rows(cache_file, len(cache_header))  # a score is a score: those of a step in flight at a kill stay
        cached = 0
        if cache_file.exists():
            with open(cache_file, newline="") as fh:
                reader = csv.reader(fh)
                if next(reader, None) == cache_header:
                    cached = scoring.load_rows([r[1:] for r in reader if r])
        if resumed:
            say(f"resuming at step {run.step} ({run.scored:,} molecules scored; {cached:,} scores cached)")
        elif cached:
            say(f"starting with {cached:,} scores cached by an earlier start of this run")
    if not resumed:
        if not same_scoring:
            cache_file.unlink(missing_ok=True)
        if fresh and population is not None:
            run.seed_population(*population)
            _append_rows(cache_file, [[-1, *r] for r in scoring.cache_rows(scoring.take_fresh())], cache_header)
    if hasattr(scoring, "journal"):  # every score is written as soon as it is computed
        scoring.journal = lambda entries: _append_rows(
            cache_file, [[run.step, *r] for r in scoring.cache_rows(entries)], cache_header)
    if not resumed:  # a start: rows of a first step killed before it was saved go, with their header
        for name in ("scored.csv", "log.csv"):
            (run_dir / name).unlink(missing_ok=True)
    truncate_csv(run_dir / "scored.csv", run.step - 1)  # rows of steps after the saved state go
    truncate_csv(run_dir / "log.csv", run.step - 1)
    header = ["step", "smiles", "canonical", "score", "raw_score", *run.columns, "quality"]
    if getattr(run.scoring, "can_fail", False):  # an external program: why it gave no score, molecule by molecule
        header.append("scoring_failure")
    t0 = time.perf_counter()
    while run.scored < cfg.budget:
        out = run.run_step()
        _append(run_dir / "scored.csv", out["rows"], header)
        _append_rows(cache_file, out["cache_rows"], cache_header)
        _append(run_dir / "log.csv", [out["log"]], DesignRun.LOG)
        run.save_state()
        lg = out["log"]
        failed = [f for f in run.last_failures if f]
        say(f"step {lg['step']}: {lg['scored']:,}/{cfg.budget:,} scored, mean {lg['mean']:.3f}, "
            f"top-1 {lg['top1']:.3f}, top-10 {lg['top10']:.3f}, valid {lg['valid']:.2f}"
            + (f"; {len(failed):,} could not be scored (e.g. {clip(failed[0], 160)})" if failed else ""))
    summary = finish(run, run_dir, time.perf_counter() - t0)
    summary.update({"versions": versions(), "hardware": hardware()})
    write_json(run_dir / "metrics.json", summary)
    return summary
