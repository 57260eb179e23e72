"""Quality filters: what a medicinal chemist rejects on sight, as a filter on a design run's scores.

A molecule that fails the filter scores ``penalty`` (0 by default) whatever its components say, and the reason is
kept (``scored.csv``'s ``quality`` column; ``top.csv`` flags every top molecule). Optimizers exploit whatever a score
allows — radicals, strained or exotic rings, assay-interference motifs (Renz et al. 2019, "On failure modes in
molecule generation and optimization") — and the filter closes those doors:

- ``alerts``: RDKit FilterCatalog alert sets (:data:`chemrnn.chem.ALERT_SETS`: PAINS A/B/C, Brenk, NIH and ChEMBL's
  Glaxo, Dundee, BMS, Inpharmatica, LINT, MLSMR, SureChEMBL);
- ``atoms``: radicals, isotope labels, elements outside C H N O S P F Cl Br I B Si Se, charges other than those of
  nitro groups, N-oxides and quaternary nitrogen, a net charge (:func:`chemrnn.chem.atom_problems`);
- ``ring_systems = "chembl"``: a ring system never seen in ChEMBL (the table shipped in
  ``chemrnn/data/chembl_ring_systems.tsv.gz``, 10,516 ring systems of the shared ChEMBL training set; rebuilt by
  ``benchmarks/build_ring_systems.py``);
- ``windows``: property ranges, e.g. ``MW = [150, 600]`` (any name of :data:`chemrnn.chem.DESCRIPTORS`).

Presets (the ``[quality]`` table of a design run: ``preset = "default"``, keys beside it replace the preset's):

- ``default``: PAINS A/B/C, atoms, ring systems seen in ChEMBL; no property window. It passes ~89 % of random
  ChEMBL molecules (PAINS ~95 %, atoms ~99 %, ring systems ~96 %; docs/benchmarks.md).
- ``strict``: ``default`` plus the Glaxo, BMS and NIH alerts and drug-like windows (MW 150–600, logP −1–5.5, HBD ≤ 5,
  HBA ≤ 10, rotatable bonds ≤ 10).
- ``none``: no filter.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from importlib import resources

from .. import chem
from .. import validate as v
from ..errors import InputError
from ..io import atomic_write

PRESETS = {
    "default": {"alerts": ["PAINS_A", "PAINS_B", "PAINS_C"], "atoms": True, "ring_systems": "chembl", "windows": {}},
    "strict": {"alerts": ["PAINS_A", "PAINS_B", "PAINS_C", "CHEMBL_Glaxo", "CHEMBL_BMS", "NIH"], "atoms": True,
               "ring_systems": "chembl",
               "windows": {"MW": [150, 600], "logP": [-1, 5.5], "HBD": [0, 5], "HBA": [0, 10],
                           "rotatable_bonds": [0, 10]}},
    "none": {"alerts": [], "atoms": False, "ring_systems": None, "windows": {}},
}
_RING_TABLES: dict[str, frozenset] = {}


def known_ring_systems(name: str = "chembl") -> frozenset:
    """The ring systems of the shipped table (read once)."""
    if name not in _RING_TABLES:
        if name != "chembl":
            raise InputError(f"ring_systems must be \"chembl\" (the shipped table) or false, not {name!r}")
        data = resources.files("chemrnn") / "data" / "chembl_ring_systems.tsv.gz"
        with gzip.open(data.open("rb"), "rt") as fh:
            rows = [line.split("\t")[0] for line in fh if not line.startswith("#")]
        _RING_TABLES[name] = frozenset(rows[1:])  # the header row first
    return _RING_TABLES[name]


@dataclass
class QualityFilter:
    """A molecule's first failed check as a reason (``None``: it passes); see the module docstring."""

    preset: str = "default"
    alerts: list = field(default_factory=list)
    atoms: bool = False
    ring_systems: str | None = None
    windows: dict = field(default_factory=dict)
    penalty: float = 0.0

    @classmethod
    def rules(cls) -> dict[str, v.Rule]:
        """What each key of a ``[quality]`` table must be (each window is checked by :meth:`config_problems`)."""
        return {"preset": v.choice(PRESETS), "alerts": v.list_of(v.choice(chem.ALERT_SETS)), "atoms": v.flag(),
                "ring_systems": v.any_of(v.choice(("chembl",)), v.Rule(lambda x: x is False, "false")),
                "windows": v.Rule(lambda t: isinstance(t, dict), "a table such as { MW = [150, 600] }"),
                "penalty": v.number(0, 1)}

    @classmethod
    def config_problems(cls, table) -> list[str]:
        """Every unknown key and bad value of a ``[quality]`` table (see :func:`chemrnn.validate.table_problems`),
        each property window included."""
        if not isinstance(table, dict):
            return [f"[quality] must be a table, e.g. preset = \"default\", not {table!r}"]
        found = v.table_problems(table, cls.rules(), "[quality] ")
        window = v.Rule(lambda w: isinstance(w, list) and len(w) == 2 and all(v.is_number(x) for x in w)
                        and w[0] <= w[1], "[low, high] with low <= high")
        for name, value in (table.get("windows") if isinstance(table.get("windows"), dict) else {}).items():
            if name not in chem.DESCRIPTORS:
                found.append(f"[quality] windows: unknown property {name!r}; choose among "
                             f"{', '.join(chem.DESCRIPTORS)}")
            else:
                found += [f"[quality] windows: {p}" for p in window.problem(name, value)]
        return found

    @classmethod
    def from_config(cls, table: dict | None) -> "QualityFilter":
        """From a ``[quality]`` table: a preset (default ``default``), its keys replaced by any given; every
        unknown key or bad value refused (:class:`InputError`) with the valid ones."""
        table = dict(table or {})
        found = cls.config_problems(table)
        if found:
            raise InputError("; ".join(found))
        preset = table.pop("preset", "default")
        values = {**PRESETS[preset], **table}
        if values["ring_systems"] is False:
            values["ring_systems"] = None
        return cls(preset=preset, **values)

    @property
    def active(self) -> bool:
        return bool(self.alerts or self.atoms or self.ring_systems or self.windows)

    def reason(self, m) -> str | None:
        """Why the RDKit molecule ``m`` fails, or None."""
        if self.atoms and (why := chem.atom_problems(m)):
            return why
        if self.ring_systems:
            known = known_ring_systems(self.ring_systems)
            unseen = [r for r in chem.ring_systems(m) if r not in known]
            if unseen:
                return f"ring system never seen in ChEMBL ({unseen[0]})"
        for name, (low, high) in self.windows.items():
            value = chem.descriptor(m, name)
            if not low <= value <= high:
                return f"{name} {value:.4g} outside [{low:g}, {high:g}]"
        if self.alerts and (why := chem.structural_alert(m, chem.alert_catalog(self.alerts))):
            return why
        return None

    def reasons(self, smiles: list[str | None]) -> list[str | None]:
        """One reason (or None) per canonical SMILES; None also for a missing (invalid) molecule."""
        out = []
        for s in smiles:
            m = chem.mol(s) if s else None
            out.append(self.reason(m) if m is not None else None)
        return out

    def to_dict(self) -> dict:
        return {"preset": self.preset, "alerts": list(self.alerts), "atoms": self.atoms,
                "ring_systems": self.ring_systems or False, "windows": dict(self.windows), "penalty": self.penalty}


def quality_flags(smiles: list[str], preset: str = "default") -> list[str]:
    """What a medicinal chemist's first look would say of each SMILES under a quality preset
    (:mod:`chemrnn.scoring.quality`): ``pass``, the first failed check's reason, or ``invalid SMILES``."""
    quality = QualityFilter.from_config({"preset": preset})
    canon = [chem.canonical_or_none(s) if s else None for s in smiles]
    reasons = quality.reasons(canon)
    return ["invalid SMILES" if c is None else (r or "pass") for c, r in zip(canon, reasons)]


def write_flagged(path, smiles: list[str], flags: list[str]) -> None:
    """``smiles,quality`` rows, as CSV, atomically (``.gz`` compresses)."""
    import csv

    with atomic_write(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["smiles", "quality"])
        w.writerows(zip(smiles, flags))
