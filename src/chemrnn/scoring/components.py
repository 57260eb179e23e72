"""Scoring components: what a design run asks of a molecule, each a raw value per molecule (NaN where there is
none) that a modifier turns into a desirability in [0, 1].

Components (``type`` in a run config): ``qed`` (Bickerton 2012), ``sa`` (Ertl & Schuffenhauer 2009, 1 easy … 10
hard), ``descriptor`` (RDKit logP, TPSA, MW, HBD/HBA, rotatable bonds, rings …), ``similarity`` (Tanimoto to
reference molecules: ECFP4/6, FCFP4, atom pairs, ECFP4 counts), ``substructure`` (required or forbidden SMARTS),
``isomer`` (closeness to a molecular formula, as GuacaMol's isomer tasks), ``property`` (a chemrnn property model,
e.g. the shipped logP/TPSA one), ``activity`` (p(active) from a target-activity model: Segler's "target
prediction model"), ``python`` (a user's function by import path), ``external`` (any program that reads SMILES and
writes scores), ``docking`` (AutoDock Vina via DOCKSTRING) and ``chemprop`` (a chemprop 2.x model file).
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from .. import chem
from .. import validate as v
from ..errors import InputError
from ..io import clip


class Component:
    """Base class: ``raw(mols, smiles)`` gives one float per molecule (mols[i] is None for an invalid one). A
    component that can fail for a molecule (an external program) leaves NaN there and its reason in ``failures``
    (index in the list → reason) after each call; the scoring function scores such a molecule 0."""

    kind = ""
    can_fail = False
    journal_in_chunks = False  # slow per molecule: a design run journals its scores a few molecules at a time
    failures: dict[int, str] = {}
    # what the raw value is where it is not a score in [0, 1]: such a component needs a modifier (without one its
    # values would be clipped to [0, 1] and, for most molecules, all be 0 or all 1)
    units: str | None = None

    @classmethod
    def units_for(cls, args: dict) -> str | None:
        """:attr:`units` for a component made with ``args`` (some descriptors are fractions already)."""
        return cls.units

    def raw(self, mols: list, smiles: list[str]) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _each(mols, fn) -> np.ndarray:
        return np.array([fn(m) if m is not None else np.nan for m in mols], dtype=float)


class QED(Component):
    kind = "qed"

    def raw(self, mols, smiles):
        return self._each(mols, chem.qed)


class SA(Component):
    """Synthetic accessibility, 1 (easy) … 10 (hard); pair it with a reverse_sigmoid or clipped modifier."""

    kind = "sa"
    units = "the SA score, 1 (easy) to 10 (hard)"

    def raw(self, mols, smiles):
        return self._each(mols, chem.sa_score)


class Descriptor(Component):
    kind = "descriptor"
    units = "the descriptor in its own units"
    FRACTIONS = ("fraction_sp3",)  # descriptors in [0, 1] already

    @classmethod
    def units_for(cls, args: dict) -> str | None:
        name = args.get("descriptor")
        if name in cls.FRACTIONS or name not in chem.DESCRIPTORS:  # an unknown name: the constructor says so
            return None
        return f"{name} in its own units"

    def __init__(self, descriptor: str):
        if descriptor not in chem.DESCRIPTORS:
            raise InputError(f"unknown descriptor {descriptor!r}; choose one of {', '.join(chem.DESCRIPTORS)}")
        self.descriptor = descriptor

    def raw(self, mols, smiles):
        return self._each(mols, lambda m: chem.descriptor(m, self.descriptor))


class Similarity(Component):
    """Tanimoto similarity to reference molecules, the largest (``max``) or the mean over them."""

    kind = "similarity"

    def __init__(self, smiles: list[str] | str, fingerprint: str = "ecfp4", aggregate: str = "max"):
        refs = [smiles] if isinstance(smiles, str) else list(smiles)
        if fingerprint not in chem.FINGERPRINTS:
            raise InputError(f"unknown fingerprint {fingerprint!r}; choose one of {', '.join(chem.FINGERPRINTS)}")
        if aggregate not in ("max", "mean"):
            raise InputError(f"similarity aggregate must be max or mean, not {aggregate!r}")
        mols = [(s, chem.mol(s)) for s in refs]
        bad = [s for s, m in mols if m is None]
        if bad or not refs:
            raise InputError(f"similarity: invalid reference SMILES: {', '.join(bad[:5]) or '(none given)'}")
        self.fingerprint, self.aggregate = fingerprint, aggregate
        self.refs = [chem.fingerprint(m, fingerprint) for _, m in mols]

    def raw(self, mols, smiles):
        agg = max if self.aggregate == "max" else (lambda v: sum(v) / len(v))
        return self._each(mols, lambda m: agg(chem.tanimoto(chem.fingerprint(m, self.fingerprint), self.refs)))


class Substructure(Component):
    """1 when the molecule has the patterns (``required``) or lacks them (``forbidden``); ``match`` all or any."""

    kind = "substructure"

    def __init__(self, smarts: list[str] | str, mode: str = "required", match: str = "any"):
        patterns = [smarts] if isinstance(smarts, str) else list(smarts)
        if mode not in ("required", "forbidden"):
            raise InputError(f"substructure mode must be required or forbidden, not {mode!r}")
        if match not in ("all", "any"):
            raise InputError(f"substructure match must be all or any, not {match!r}")
        try:
            self.queries = [chem.smarts(p) for p in patterns]
        except ValueError as exc:
            raise InputError(f"substructure: {exc}") from None
        self.mode, self.match = mode, match

    def raw(self, mols, smiles):
        combine = all if self.match == "all" else any

        def f(m):
            hit = combine(chem.has_substructure(m, q) for q in self.queries)
            return float(hit if self.mode == "required" else not hit)

        return self._each(mols, f)


class Isomer(Component):
    """Closeness to a molecular formula: the geometric mean of a Gaussian per element count (sigma 1) and one on
    the total atom count (sigma 2), as GuacaMol's isomer tasks (Brown et al. 2019); 1 for an exact isomer."""

    kind = "isomer"

    def __init__(self, formula: str):
        try:
            self.target = chem.parse_formula(formula)
        except ValueError as exc:
            raise InputError(f"isomer: {exc}") from None
        self.formula = formula

    def _score(self, m) -> float:
        counts = chem.formula_counts(m)
        terms = [np.exp(-0.5 * (counts.get(el, 0) - n) ** 2) for el, n in self.target.items()]
        terms += [np.exp(-0.5 * n ** 2) for el, n in counts.items() if el not in self.target]
        total, want = sum(counts.values()), sum(self.target.values())
        terms.append(np.exp(-0.5 * ((total - want) / 2.0) ** 2))
        return float(np.exp(np.mean(np.log(np.maximum(terms, 1e-300)))))

    def raw(self, mols, smiles):
        return self._each(mols, self._score)


class PropertyModel(Component):
    """A chemrnn property model's prediction of one target (``shipped`` = the packaged ZINC logP/TPSA model).
    Molecules the model cannot read (unseen tokens) get no value, hence score 0."""

    kind = "property"
    units = "the model's prediction in its target's units"

    def __init__(self, target: str, model: str = "shipped"):
        from ..predict import PropertyPredictor

        self.predictor = PropertyPredictor(model)
        if target not in self.predictor.targets:
            raise InputError(f"property model {model} predicts {', '.join(self.predictor.targets)}, not {target!r}")
        self.column = self.predictor.targets.index(target)

    def raw(self, mols, smiles):
        out = np.full(len(smiles), np.nan)
        ok = [i for i, m in enumerate(mols) if m is not None]
        if ok:
            out[ok] = self.predictor([smiles[i] for i in ok])[:, self.column]
        return out


class Activity(Component):
    """p(active) from a target-activity model trained with ``chemrnn activity train``."""

    kind = "activity"

    def __init__(self, model: str):
        from .activity import ActivityModel

        self.model = ActivityModel.load(model)

    def raw(self, mols, smiles):
        return self.model.predict_mols(mols)


class Python(Component):
    """A user's function ``module.path:function`` taking a list of SMILES and returning one number each. Whatever
    goes wrong in it fails the molecules concerned with the reason (kept in ``failures``, as ``external`` keeps
    them) and the run goes on: an exception or a wrong number of values fails the call's molecules, a value that is
    not a finite number (NaN, inf, None, text) fails its molecule. A design run says each step's failures."""

    kind = "python"
    can_fail = True

    def __init__(self, function: str):
        import importlib

        mod, _, name = function.partition(":")
        if not mod or not name:
            raise InputError(f"python component: function must look like 'package.module:function', not {function!r}")
        try:
            self.fn = getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"python component: cannot import {function!r} ({exc})") from None

    def raw(self, mols, smiles):
        ok = [i for i, m in enumerate(mols) if m is not None]
        out = np.full(len(smiles), np.nan)
        self.failures = {}
        if not ok:
            return out
        try:
            values = self.fn([smiles[i] for i in ok])
        except Exception as exc:
            return self._all_fail(out, ok, f"the function raised {type(exc).__name__}: {clip(str(exc), 200)}")
        try:
            values = list(values)
        except TypeError:
            return self._all_fail(out, ok, f"the function returned {type(values).__name__}, not a list of numbers")
        if len(values) != len(ok):
            return self._all_fail(out, ok, f"the function returned {len(values)} values for {len(ok)} molecules")
        for i, x in zip(ok, values):
            out[i], why = self._number(x)
            if why:
                self.failures[i] = why
        return out

    def _all_fail(self, out: np.ndarray, ok: list[int], why: str) -> np.ndarray:
        self.failures = {i: why for i in ok}
        return out

    @staticmethod
    def _number(x) -> tuple[float, str | None]:
        """A returned value as a number, or NaN and why it is none."""
        if x is None:
            return np.nan, "the function returned None"
        try:
            value = float(x)
        except (TypeError, ValueError):
            return np.nan, f"the function returned {clip(repr(x), 40)}, not a number"
        return value, None if np.isfinite(value) else f"the function returned {value}"


class External(Component):
    """Any program as a scorer: it reads SMILES, one per line, on its stdin (``input = "stdin"``) or from a file
    whose path replaces ``{input}`` in the command (``input = "file"``), and writes one score per line on stdout, in
    order. Molecules go in batches of ``batch_size`` (0: all of a call at once), each within ``timeout`` seconds. A
    batch whose program exits non-zero or runs out of time, and a molecule without a line or whose line is not a
    number, fail with the reason (NaN, kept in ``failures``); the run goes on."""

    kind = "external"
    can_fail = True
    journal_in_chunks = True

    def __init__(self, command: list[str] | str, input: str = "stdin", timeout: float = 600.0, batch_size: int = 0):
        import shlex

        argv = shlex.split(command) if isinstance(command, str) else command
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise InputError(f"external component: command must be a command line or a list of words, not "
                             f"{command!r}")
        if input not in ("stdin", "file"):
            raise InputError(f"external component: input must be stdin or file, not {input!r}")
        if input == "file" and not any("{input}" in a for a in argv):
            raise InputError("external component: with input = \"file\" the command must hold {input} (the "
                             "file's path)")
        for key, value, ok in (("timeout", timeout, v.positive()), ("batch_size", batch_size, v.integer(0))):
            if found := ok.problem(key, value):
                raise InputError(f"external component: {found[0]}")
        self.argv, self.input, self.timeout, self.batch_size = argv, input, float(timeout), int(batch_size)
        self.failures = {}

    def raw(self, mols, smiles):
        self.failures = {}
        out = np.full(len(smiles), np.nan)
        ok = [i for i, m in enumerate(mols) if m is not None]
        size = self.batch_size or max(1, len(ok))
        for start in range(0, len(ok), size):
            part = ok[start: start + size]
            values, why = self._run([smiles[i] for i in part])
            for i, val, reason in zip(part, values, why):
                if reason:
                    self.failures[i] = reason
                else:
                    out[i] = val
        return out

    def _run(self, batch: list[str]) -> tuple[list[float], list[str | None]]:
        """One batch through the program: a value per molecule, or None and the reason it has none."""
        import subprocess
        import tempfile

        text = "".join(s + "\n" for s in batch)
        with tempfile.TemporaryDirectory() as tmp:
            argv, stdin = self.argv, text
            if self.input == "file":
                path = Path(tmp) / "input.smi"
                path.write_text(text)
                argv, stdin = [a.replace("{input}", str(path)) for a in self.argv], ""
            try:
                done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                return [np.nan] * len(batch), [f"timed out after {self.timeout:g} s"] * len(batch)
            except OSError as exc:
                return [np.nan] * len(batch), [f"could not run {argv[0]!r} ({exc.strerror or exc})"] * len(batch)
        if done.returncode:
            tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
            reason = f"exit {done.returncode}" + (f": {tail}" if tail else "")
            return [np.nan] * len(batch), [reason] * len(batch)
        lines = done.stdout.splitlines()
        values, why = [], []
        for k in range(len(batch)):
            if k >= len(lines):
                values.append(np.nan)
                why.append(f"no score (the program wrote {len(lines)} lines for {len(batch)} molecules)")
                continue
            try:
                x = float(lines[k].split()[0]) if lines[k].strip() else float("nan")
            except ValueError:
                x = float("nan")
            ok = x == x and abs(x) != float("inf")
            values.append(x if ok else np.nan)
            why.append(None if ok else f"not a score: {lines[k][:60]!r}")
        return values, why


class Docking(Component):
    """AutoDock Vina's best-pose energy (kcal/mol, lower is better: pair it with a ``reverse_sigmoid`` modifier)
    against a DOCKSTRING target (García-Ortegón et al. 2022: 58 prepared proteins, e.g. ``F2``, ``PPARD``, ``KIT``,
    with its standard ligand preparation — protonation at pH 7.4, embedding, force-field refinement). Needs the
    ``docking`` extra (``pip install -e '.[docking]'``: dockstring and Open Babel). Molecules dock in ``workers``
    processes of ``cpus`` Vina threads each, ``seed`` fixed; one that cannot be prepared or docked, or that takes
    longer than ``timeout`` seconds, fails with the reason. With ``poses = "DIR"`` each docked molecule's best pose is
    kept as ``DIR/<key>.sdf`` (:func:`pose_file`; its SMILES, target and energy as data fields)."""

    kind = "docking"
    units = "Vina's energy in kcal/mol, lower is better"
    can_fail = True
    runs_processes = True  # it docks in its own worker processes, not in the scoring function's

    def __init__(self, target: str, seed: int = 0, cpus: int = 1, workers: int = 1, timeout: float = 600.0,
                 poses: str = "", exhaustiveness: int = 8):
        for key, value, ok in (("seed", seed, v.integer(0)), ("cpus", cpus, v.integer(1)),
                               ("exhaustiveness", exhaustiveness, v.integer(1, 64)),
                               ("workers", workers, v.integer(1)), ("timeout", timeout, v.positive())):
            if found := ok.problem(key, value):
                raise InputError(f"docking component: {found[0]}")
        names = docking_targets()
        if target not in names:
            raise InputError(f"docking component: unknown target {target!r}; DOCKSTRING's targets: "
                             f"{', '.join(sorted(names))}")
        if not isinstance(poses, str):
            raise InputError(f"docking component: poses must be a folder's path, not {poses!r}")
        self.target, self.seed, self.cpus, self.workers, self.timeout = target, seed, cpus, workers, float(timeout)
        self.poses = Path(poses).expanduser() if poses else None
        self.exhaustiveness = exhaustiveness
        self.failures = {}

    def pose_file(self, smiles: str) -> Path | None:
        """Where the best pose of a docked molecule (canonical SMILES) lies, if this component keeps poses and has
        docked it."""
        if self.poses is None:
            return None
        path = pose_file(self.poses, smiles, self.target, self.exhaustiveness)
        return path if path.exists() else None

    def raw(self, mols, smiles):
        self.failures = {}
        out = np.full(len(smiles), np.nan)
        for i, value, reason in self.stream(mols, smiles):
            if reason:
                self.failures[i] = reason
            else:
                out[i] = value
        return out

    def stream(self, mols, smiles):
        """``(index, energy, None)`` or ``(index, NaN, reason)`` of each molecule as its docking ends: one forked
        process a molecule, ``workers`` at a time (:func:`~chemrnn.scoring.processes.each_in_process`), so that a
        slow docking holds up only its own process; one past ``timeout`` seconds is stopped with the Vina it
        started."""
        from .processes import each_in_process

        ok = [i for i, m in enumerate(mols) if m is not None]
        if self.poses is not None and ok:
            self.poses.mkdir(parents=True, exist_ok=True)
        where = str(self.poses) if self.poses is not None else ""
        jobs = [(self.target, smiles[i], self.seed, self.cpus, where, self.exhaustiveness) for i in ok]
        for j, result, why in each_in_process(_dock_one, jobs, self.workers, self.timeout, what="docking"):
            value, reason = result if why is None else (None, why)
            yield ok[j], (np.nan if value is None else value), reason


class Chemprop(Component):
    """A chemprop 2.x model's prediction (Heid et al. 2024, J. Chem. Inf. Model.: a directed message-passing network):
    ``model`` is a file chemprop wrote (``best.pt`` or a ``.ckpt``), the folder ``chemprop train`` wrote (every
    ``model_*/best.pt`` in it: an ensemble), or a list of those; the value is the ensemble's mean, as ``chemprop
    predict`` writes it, for the output ``task`` (its column name or index; the first by default). Regression values
    are in the units the model was trained on; a classifier gives p(class 1). Needs the ``chemprop`` extra
    (``pip install -e '.[chemprop]'``). chemprop reads its files with pickle: load only models you trust."""

    kind = "chemprop"

    def __init__(self, model: list[str] | str, task: int | str = 0, batch_size: int = 256):
        if found := v.integer(1).problem("batch_size", batch_size):
            raise InputError(f"chemprop component: {found[0]}")
        try:
            import chemprop  # noqa: F401
        except ImportError:
            raise InputError("the chemprop component needs the chemprop extra: pip install -e '.[chemprop]'") from None
        paths = _chemprop_files(model)
        self.models = [_load_chemprop(p) for p in paths]
        columns = _chemprop_columns(paths[0], self.models[0])
        if isinstance(task, bool) or not isinstance(task, (int, str)):
            raise InputError(f"chemprop component: task must be an output's name or index, not {task!r}")
        if isinstance(task, str):
            if task not in columns:
                raise InputError(f"chemprop component: the model has no output {task!r}; its outputs: "
                                 f"{', '.join(columns)}")
            task = columns.index(task)
        if not 0 <= task < len(columns):
            raise InputError(f"chemprop component: task {task} is out of range (the model has {len(columns)} "
                             f"outputs: {', '.join(columns)})")
        self.task, self.batch_size, self.paths = task, int(batch_size), paths
        self.atom_features, self.featurizer = _chemprop_featurizer(self.models[0], paths[0])
        for path, net in zip(paths[1:], self.models[1:]):  # every member: the same outputs, the same inputs
            if _chemprop_columns(path, net) != columns:
                raise InputError(f"chemprop component: the ensemble's models differ in their outputs ({paths[0]}: "
                                 f"{', '.join(columns)}; {path}: {', '.join(_chemprop_columns(path, net))})")
            if _chemprop_featurizer(net, path)[0] != self.atom_features:
                raise InputError(f"chemprop component: {path} reads molecules another way than {paths[0]} (another "
                                 f"featurizer): an ensemble's models must share one")

    def raw(self, mols, smiles):
        out = np.full(len(smiles), np.nan)
        ok = [i for i, m in enumerate(mols) if m is not None]
        if ok:
            out[ok] = self.predict([mols[i] for i in ok])
        return out

    def predict(self, mols: list) -> np.ndarray:
        """The ensemble mean for RDKit molecules, in chemprop's own featurization and batching."""
        import torch
        from chemprop import data

        points = [data.MoleculeDatapoint(m) for m in mols]
        loader = data.build_dataloader(data.MoleculeDataset(points, featurizer=self.featurizer),
                                       batch_size=self.batch_size, num_workers=0, shuffle=False)
        per_model = []
        with torch.inference_mode():
            for net in self.models:
                parts = [_chemprop_output(net, batch) for batch in loader]
                per_model.append(torch.cat(parts).double())
        mean = torch.stack(per_model).mean(0)
        return mean[:, self.task].numpy()


def _chemprop_files(model) -> list[Path]:
    """The model files a ``model`` setting names: files as given, a folder's ``model_*/best.pt`` (or ``*.pt``)."""
    names = [model] if isinstance(model, str) else model
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise InputError(f"chemprop component: model must be a path or a list of paths, not {model!r}")
    files: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        if path.is_dir():
            found = sorted(path.glob("model_*/best.pt")) or sorted(path.glob("*.pt"))
            if not found:
                raise InputError(f"chemprop component: {path} holds no chemprop model (no model_*/best.pt, no *.pt)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"chemprop component: model file not found: {path}")
    return files


def _load_chemprop(path: Path):
    """A single-molecule chemprop MPNN in evaluation mode, or an :class:`InputError` saying why not."""
    import torch
    from chemprop.models import MPNN

    try:
        net = MPNN.load_from_file(path, map_location=torch.device("cpu"))
    except Exception as exc:  # noqa: BLE001 (a file that is not a chemprop model: say so)
        raise InputError(f"chemprop component: {path} is not a chemprop 2.x single-molecule model "
                         f"({type(exc).__name__}: {str(exc)[:160]})") from None
    return net.eval()


def _chemprop_columns(path: Path, net) -> list[str]:
    """The output names chemprop stored with the model, else ``pred_0``, ``pred_1`` …"""
    import torch

    stored = torch.load(path, map_location="cpu", weights_only=False)
    names = stored.get("output_columns") if isinstance(stored, dict) else None
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        return list(names)
    return [f"pred_{i}" for i in range(net.predictor.n_tasks)]


def _chemprop_output(net, batch):
    """One batch's predictions ``[n, tasks]``: a mean-variance or evidential head gives its mean, a multiclass head is
    refused."""
    bmg, V_d, X_d, *_ = batch
    y = net(bmg, V_d, X_d)
    if y.ndim == 3:
        if y.shape[-1] in (2, 4) and type(net.predictor).__name__ in ("MveFFN", "EvidentialFFN", "QuantileFFN"):
            return y[..., 0]
        raise InputError(f"chemprop component: the model gives {tuple(y.shape[1:])} values a molecule (a multiclass or "
                         f"Dirichlet head); a scoring component needs one value per task")
    return y


def _chemprop_featurizer(net, path: Path):
    """``(atom features, featurizer)``: chemprop's default molecule featurizer with v2 atom features, or v1 for a
    model trained with them — the one whose dimensions the model accepts; a model that needs extra descriptors or
    atom features is refused."""
    from chemprop import data, featurizers

    probe = [data.MoleculeDatapoint(chem.mol("CC(=O)N"))]
    for name in ("v2", "v1"):
        feat = featurizers.SimpleMoleculeMolGraphFeaturizer(
            atom_featurizer=getattr(featurizers.MultiHotAtomFeaturizer, name)())
        batch = next(iter(data.build_dataloader(data.MoleculeDataset(probe, featurizer=feat), batch_size=1,
                                                num_workers=0, shuffle=False)))
        try:
            _chemprop_output(net, batch)
        except RuntimeError:
            continue
        return name, feat
    raise InputError(f"chemprop component: {path} needs inputs beyond a SMILES (extra descriptors or atom/bond "
                     f"features, or another featurizer): only models trained on SMILES alone can score molecules")


def pose_file(folder: Path, smiles: str, target: str, exhaustiveness: int = 8) -> Path:
    """The SD file of a molecule's pose in a poses folder: ``<target>_<hash>.sdf``, the hash of the SMILES and the
    search's exhaustiveness (stable across runs; two targets, or two searches, share a folder safely)."""
    import hashlib

    key = hashlib.sha1(f"{smiles}\t{exhaustiveness}".encode()).hexdigest()[:16]
    return Path(folder) / f"{target}_{key}.sdf"


def docking_targets() -> list[str]:
    """DOCKSTRING's target names; an :class:`InputError` naming the extra where it is not installed."""
    _docking_path()
    try:
        from dockstring import list_all_target_names
    except ImportError:
        raise InputError("the docking component needs the docking extra (dockstring, Open Babel): "
                         "pip install -e '.[docking]'") from None
    return list_all_target_names()


def _docking_path() -> None:
    """Open Babel's ``obabel`` (which dockstring runs) from this environment's scripts folder, where it was installed
    beside Python, also when that folder is not on PATH."""
    import os
    import shutil
    import sys

    here = str(Path(sys.executable).parent)
    if shutil.which("obabel") is None and shutil.which("obabel", path=here):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")




def _target(name: str, exhaustiveness: int, folder: str):
    """A dockstring Target whose Vina runs at ``exhaustiveness`` (DOCKSTRING's standard, Vina's default, is 8): its
    search-box file with the setting added, in the working folder."""
    from dockstring.target import Target

    class Searched(Target):
        @property
        def conf_path(self) -> Path:
            return self.__dict__.get("_conf") or super().conf_path

    target = Searched(name, working_dir=folder)
    if exhaustiveness != 8:
        conf = Path(folder) / f"{name}_conf.txt"
        conf.write_text(target.conf_path.read_text().rstrip("\n") + f"\nexhaustiveness = {exhaustiveness}\n")
        target._conf = conf
    return target


def _dock_one(job: tuple[str, str, int, int, str, int]) -> tuple[float | None, str | None]:
    """Dock one SMILES in this process, in a working folder removed afterwards: ``(energy, None)`` or
    ``(None, reason)``; its best pose kept in the poses folder where one is given."""
    import tempfile

    from dockstring import DockstringError

    name, smi, seed, cpus, poses, exhaustiveness = job
    with tempfile.TemporaryDirectory(prefix="chemrnn-dock-") as folder:
        try:
            score, aux = _target(name, exhaustiveness, folder).dock(smi, num_cpus=cpus, seed=seed)
        except DockstringError as exc:
            return None, f"{type(exc).__name__}: {str(exc)[:160]}"
        except Exception as exc:  # noqa: BLE001 (a failure of the external tools is a failed molecule, not a crash)
            return None, f"{type(exc).__name__}: {str(exc)[:160]}"
        if score is None or score != score:
            return None, "Vina found no pose"
        if poses and aux.get("ligand") is not None:
            try:  # a pose that cannot be written (a full disk) costs the pose, not the score
                chem.write_pose(aux["ligand"], pose_file(Path(poses), smi, name, exhaustiveness),
                                {"smiles": smi, "target": name, "exhaustiveness": exhaustiveness,
                                 "vina_energy": score})
            except OSError:
                pass
    return float(score), None


COMPONENTS = {c.kind: c for c in (QED, SA, Descriptor, Similarity, Substructure, Isomer, PropertyModel, Activity,
                                  Python, External, Docking, Chemprop)}
COMMON_KEYS = ("type", "name", "weight", "modifier")


def make_component(spec: dict) -> tuple[str, float, Component, object]:
    """``(name, weight, component, modifier)`` from a config table; unknown keys or values are refused."""
    from .modifiers import make_modifier

    spec = dict(spec)
    kind = spec.get("type")
    if kind not in COMPONENTS:
        raise InputError(f"unknown scoring component type {kind!r}; choose one of {', '.join(COMPONENTS)}")
    params = [p for p in inspect.signature(COMPONENTS[kind].__init__).parameters if p != "self"]
    bad = set(spec) - set(COMMON_KEYS) - set(params)
    if bad:
        raise InputError(f"component {kind}: unknown key(s) {', '.join(sorted(bad))}; "
                         f"valid: {', '.join([*COMMON_KEYS, *params])}")
    weight = spec.get("weight", 1.0)
    if found := v.number(0).problem("weight", weight):
        raise InputError(f"component {kind}: {found[0]}")
    args = {k: spec[k] for k in params if k in spec}
    units = COMPONENTS[kind].units_for(args)
    if spec.get("modifier") is None and units:  # before the component is made (a model may take time to load)
        raise InputError(f"component {kind}: its value is {units}, not a score in [0, 1]; give it a "
                         f"modifier that maps it to one (e.g. modifier = {{ type = \"sigmoid\", low = …, high = … }}; "
                         f"modifier = \"identity\" clips it to [0, 1] as it is)")
    try:
        comp = COMPONENTS[kind](**args)
    except TypeError as exc:
        raise InputError(f"component {kind}: {exc}") from None
    label = spec.get("name") or kind + (f"_{args[next(iter(args))]}" if args and kind == "descriptor" else "")
    return str(label), float(weight), comp, make_modifier(spec.get("modifier"))
