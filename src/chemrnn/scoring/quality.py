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
from ..errors import InputError

PRESETS = {
    "default": {"alerts": ["PAINS_A", "PAINS_B", "PAINS_C"], "atoms": True, "ring_systems": "chembl", "windows": {}},
    "strict": {"alerts": ["PAINS_A", "PAINS_B", "PAINS_C", "CHEMBL_Glaxo", "CHEMBL_BMS", "NIH"], "atoms": True,
               "ring_systems": "chembl",
               "windows": {"MW": [150, 600], "logP": [-1, 5.5], "HBD": [0, 5], "HBA": [0, 10],
                           "rotatable_bonds": [0, 10]}},
    "none": {"alerts": [], "atoms": False, "ring_systems": None, "windows": {}},
}
KEYS = ("preset", "alerts", "atoms", "ring_systems", "windows", "penalty")
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
    def from_config(cls, table: dict | None) -> "QualityFilter":
        """From a ``[quality]`` table: a preset (default ``default``), its keys replaced by any given; every
        unknown key or bad value refused (:class:`InputError`) with the valid ones."""
        table = dict(table or {})
        bad = set(table) - set(KEYS)
        if bad:
            raise InputError(f"[quality]: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(KEYS)}")
        preset = table.pop("preset", "default")
        if preset not in PRESETS:
            raise InputError(f"[quality] preset must be one of {' | '.join(PRESETS)}, not {preset!r}")
        values = {**PRESETS[preset], **table}
        if values["ring_systems"] is False:
            values["ring_systems"] = None
        made = cls(preset=preset, **values)
        made.check()
        return made

    def check(self) -> None:
        problems = []
        if not isinstance(self.alerts, list) or any(a not in chem.ALERT_SETS for a in self.alerts):
            problems.append(f"alerts must be a list of {', '.join(chem.ALERT_SETS)}, not {self.alerts!r}")
        if not isinstance(self.atoms, bool):
            problems.append(f"atoms must be true or false, not {self.atoms!r}")
        if self.ring_systems not in (None, "chembl"):
            problems.append(f"ring_systems must be \"chembl\" or false, not {self.ring_systems!r}")
        if not isinstance(self.windows, dict):
            problems.append(f"windows must be a table such as {{ MW = [150, 600] }}, not {self.windows!r}")
        else:
            for name, window in self.windows.items():
                if name not in chem.DESCRIPTORS:
                    problems.append(f"windows: unknown property {name!r}; choose among {', '.join(chem.DESCRIPTORS)}")
                elif (not isinstance(window, list) or len(window) != 2
                      or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in window)
                      or window[0] > window[1]):
                    problems.append(f"windows: {name} must be [low, high] with low <= high, not {window!r}")
        if isinstance(self.penalty, bool) or not isinstance(self.penalty, (int, float)) or not 0 <= self.penalty <= 1:
            problems.append(f"penalty must be a number in [0, 1], not {self.penalty!r}")
        if problems:
            raise InputError("[quality]: " + "; ".join(problems))

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
