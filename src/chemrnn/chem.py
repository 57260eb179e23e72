"""The RDKit boundary: parse, canonicalize, randomize, descriptors, scaffolds, fingerprints.

Nothing else in chemrnn imports RDKit, so that every chemical decision is made (and tested) here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from rdkit import Chem, RDLogger
from rdkit.Chem import Crippen, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

from .io import publish
from .utils import pool_map

RDLogger.DisableLog("rdApp.*")  # reasons are returned to the caller instead of printed


@dataclass(frozen=True)
class CanonOptions:
    """How input SMILES are standardized (``chemrnn data prepare`` options), in this order: ``largest_fragment``
    keeps the fragment with the most heavy atoms (salts and solvents go; its charges stay); ``neutralize`` takes
    charges off by adding or removing hydrogens (RDKit's ``rdMolStandardize.Uncharger``: ``CC(=O)[O-]`` →
    ``CC(=O)O``, ``CC[NH3+]`` → ``CCN``; a quaternary N+ or a nitro group keeps its charges, and so does a salt
    kept whole, whose charges balance); ``keep_isotopes`` off writes every atom as its natural element
    (``[2H]C([2H])([2H])O`` → ``CO``, ``[13CH4]`` → ``C``); ``keep_stereo`` off drops chirality and double-bond
    geometry, nothing else."""

    keep_stereo: bool = True
    largest_fragment: bool = False
    keep_isotopes: bool = True
    neutralize: bool = False


def parse(smiles: str) -> tuple[Chem.Mol | None, str]:
    """Parse a SMILES; return ``(mol, '')`` or ``(None, reason)`` with RDKit's reason in words."""
    if not smiles:
        return None, "empty SMILES"
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        return None, "SMILES syntax error"
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several exception types, all meaning "not a valid molecule"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"invalid chemistry: {msg}"
    if mol.GetNumAtoms() == 0:
        return None, "no atoms"
    return mol, ""


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """Keep the fragment with the most heavy atoms (ties: the longer SMILES), e.g. drop salts and solvents."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) == 1:
        return mol
    return max(frags, key=lambda m: (m.GetNumHeavyAtoms(), m.GetNumAtoms(), len(Chem.MolToSmiles(m))))


_UNCHARGER = None


def neutralize(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with its charges taken off where hydrogens can be added or removed (RDKit's Uncharger)."""
    global _UNCHARGER
    if _UNCHARGER is None:
        from rdkit.Chem.MolStandardize import rdMolStandardize

        _UNCHARGER = rdMolStandardize.Uncharger()
    return _UNCHARGER.uncharge(mol)


def strip_isotopes(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with every atom its natural element: isotope labels removed, the hydrogens that were written only to
    carry one (``[2H]``) folded back into their atoms, and the stereo that only the isotopes made (``C[C@@H]([2H])O``,
    ``[2H]/C=C/[2H]``) dropped."""
    mol = Chem.Mol(mol)
    for atom in mol.GetAtoms():
        atom.SetIsotope(0)
    params = Chem.RemoveHsParameters()
    params.removeDefiningBondStereo = True
    mol = Chem.RemoveHs(mol, params)
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    return mol


def canonical(smiles: str, options: CanonOptions = CanonOptions()) -> tuple[str | None, str]:
    """RDKit canonical SMILES of ``smiles`` after the standardization in ``options``; or ``(None, reason)``."""
    mol, reason = parse(smiles)
    if mol is None:
        return None, reason
    if options.largest_fragment:
        mol = largest_fragment(mol)
    try:
        if options.neutralize:
            mol = neutralize(mol)
        if not options.keep_isotopes:
            mol = strip_isotopes(mol)
    except Exception as exc:  # RDKit raises several exception types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"cannot standardize: {msg}"
    if not options.keep_stereo:
        Chem.RemoveStereochemistry(mol)
    return Chem.MolToSmiles(mol), ""


def canonical_or_none(smiles: str) -> str | None:
    """Canonical SMILES (stereo kept) or None for an invalid one; used for validity/novelty/matching."""
    return canonical(smiles)[0]


def canonical_batch(smiles: Sequence[str], options: CanonOptions = CanonOptions()) -> list[tuple[str | None, str]]:
    """:func:`canonical` over a list (the unit of work handed to worker processes)."""
    return [canonical(s, options) for s in smiles]


def rdkit_version() -> str:
    from rdkit import __version__

    return __version__


def rdkit_default_canonical(smiles: str) -> str | None:
    """RDKit's plain ``MolToSmiles(MolFromSmiles(smiles))`` (sanitized, explicit hydrogens folded in: ``[H]C`` →
    ``C``), or None: the canonicalization the shared data files were made with (``chemrnn datasets derive``).
    :func:`canonical` keeps explicit hydrogens, so the two differ for such input."""
    m = Chem.MolFromSmiles(smiles) if smiles else None
    return Chem.MolToSmiles(m) if m is not None and m.GetNumAtoms() else None


def rdkit_default_canonical_batch(smiles: Sequence[str]) -> list[str | None]:
    return [rdkit_default_canonical(s) for s in smiles]


def derived_labels(smiles: str) -> tuple[float, float, float] | None:
    """Crippen logP, QED and SA score (RDKit Contrib's sascorer) of a SMILES as written, or None: the
    ``zinc250k`` columns."""
    m = Chem.MolFromSmiles(smiles) if smiles else None
    if m is None:
        return None
    return float(Crippen.MolLogP(m)), qed(m), sa_score(m)


def derived_labels_batch(smiles: Sequence[str]) -> list:
    return [derived_labels(s) for s in smiles]


def is_valid(smiles: str) -> bool:
    return parse(smiles)[0] is not None


def randomized(smiles: str, n: int = 1, seed: int = 0, keep_stereo: bool = True) -> list[str]:
    """``n`` random (non-canonical atom order) SMILES of one molecule, reproducible for a given seed.

    Randomized SMILES are the augmentation of Bjerrum 2017 / Arús-Pous 2019: the same graph written from a
    random starting atom and traversal, so a model sees many spellings of every molecule.
    """
    mol, reason = parse(smiles)
    if mol is None:
        raise ValueError(f"cannot randomize {smiles!r}: {reason}")
    if not keep_stereo:
        Chem.RemoveStereochemistry(mol)
    return list(Chem.MolToRandomSmilesVect(mol, n, randomSeed=int(seed) + 1, isomericSmiles=keep_stereo))


def spellings(smiles: str, n: int, seed: int = 0) -> list[str]:
    """``1 + n`` SMILES of one molecule: ``smiles`` itself, then ``n`` randomized ones (:func:`randomized`; they
    repeat where the molecule has fewer spellings, as ``C`` has one). The test-time augmentation of a property
    model averages its predictions over them (Bjerrum 2017)."""
    return [smiles] + (randomized(smiles, n, seed=seed) if n > 0 else [])


def same_molecule(a: str, b: str) -> bool:
    """Whether two SMILES spell the same molecule (equal canonical SMILES)."""
    ca, cb = canonical_or_none(a), canonical_or_none(b)
    return ca is not None and ca == cb


def descriptors(smiles: str) -> dict[str, float] | None:
    """The property-prediction labels of the lecture: Crippen logP and TPSA (RDKit)."""
    mol, _ = parse(smiles)
    if mol is None:
        return None
    return {"logP": Crippen.MolLogP(mol), "TPSA": rdMolDescriptors.CalcTPSA(mol)}


def murcko_scaffold(smiles: str) -> str | None:
    """Bemis–Murcko scaffold as canonical SMILES ('' for acyclic molecules; None if invalid)."""
    mol, _ = parse(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol))


def heavy_atoms(smiles_list: Iterable[str]) -> list[int]:
    out = []
    for s in smiles_list:
        mol, _ = parse(s)
        out.append(mol.GetNumHeavyAtoms() if mol is not None else 0)
    return out


# ------------------------------------------------------------------------------ metric features
FP_BITS = 1024


def morgan_bits(mol: Chem.Mol, radius: int = 2, n_bits: int = FP_BITS):
    """Morgan (ECFP4-like) bit vector as a packed uint8 numpy array (MOSES: radius 2, 1024 bits)."""
    import numpy as np

    gen = _morgan_generator(radius, n_bits)
    arr = gen.GetFingerprintAsNumPy(mol).astype(np.uint8)
    return np.packbits(arr)


_GENERATORS: dict = {}


def _morgan_generator(radius: int, n_bits: int):
    from rdkit.Chem import rdFingerprintGenerator

    key = (radius, n_bits)
    if key not in _GENERATORS:
        _GENERATORS[key] = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return _GENERATORS[key]


def brics_fragments(mol: Chem.Mol) -> list[str]:
    """BRICS fragments as canonical SMILES (MOSES's Frag metric)."""
    from rdkit.Chem import BRICS

    frags = Chem.GetMolFrags(BRICS.BreakBRICSBonds(mol), asMols=True)
    return [Chem.MolToSmiles(f) for f in frags]


def scaffold_of(mol: Chem.Mol) -> str:
    return Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol))


# GuacaMol's KL-divergence benchmark descriptors: (name, kind)
KL_DESCRIPTORS = [("BertzCT", "continuous"), ("MolLogP", "continuous"), ("MolWt", "continuous"),
                  ("TPSA", "continuous"), ("NumHAcceptors", "discrete"), ("NumHDonors", "discrete"),
                  ("NumRotatableBonds", "discrete"), ("NumAliphaticRings", "discrete"),
                  ("NumAromaticRings", "discrete")]


def kl_descriptors(mol: Chem.Mol) -> list[float]:
    from rdkit.Chem import Descriptors

    return [float(getattr(Descriptors, name)(mol)) for name, _ in KL_DESCRIPTORS]


def metric_features(smiles: str):
    """Everything the distribution metrics need from one canonical SMILES, in one parse."""
    mol, _ = parse(smiles)
    if mol is None:
        return None
    return {"fp": morgan_bits(mol), "frags": brics_fragments(mol), "scaffold": scaffold_of(mol),
            "descriptors": kl_descriptors(mol)}


def metric_features_batch(smiles: list[str]):
    return [metric_features(s) for s in smiles]


def canonical_all(smiles: Sequence[str], jobs: int = 0) -> list[str | None]:
    """Canonical SMILES (None where invalid) of many strings, in order, in ``jobs`` worker processes (0: all)."""
    return [c for c, _ in pool_map(canonical_batch, list(smiles), jobs)]


GRID_MAX_WIDTH = 1280  # px: the widest grid of molecules drawn (a report page, a laptop screen)


def grid_layout(per_row: int, size=(200, 160)) -> tuple[int, tuple[int, int]]:
    """Molecules per row and cell size of a grid at most :data:`GRID_MAX_WIDTH` wide: fewer molecules per row where
    ``per_row`` cells of ``size`` would be wider (at least one), a narrower cell (same aspect) where one alone
    would be."""
    width, height = int(size[0]), int(size[1])
    if width > GRID_MAX_WIDTH:
        width, height = GRID_MAX_WIDTH, max(1, round(height * GRID_MAX_WIDTH / width))
    return max(1, min(int(per_row), GRID_MAX_WIDTH // width)), (width, height)


def write_pose(mol: Chem.Mol, path, props: dict) -> None:
    """A docked molecule's first conformer (its best pose) as an SD file with ``props`` as its data fields, written
    whole or not at all."""
    import os
    import tempfile

    path = str(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".sdf.part")
    os.close(fd)
    try:
        pose = Chem.Mol(mol, confId=mol.GetConformers()[0].GetId()) if mol.GetNumConformers() > 1 else Chem.Mol(mol)
        for key, value in props.items():
            pose.SetProp(key, str(value))
        writer = Chem.SDWriter(tmp)
        writer.write(pose)
        writer.close()
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_poses(path) -> list[Chem.Mol]:
    """The molecules of an SD file, with their 3D coordinates and data fields."""
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False) if m is not None]


def grid_png(smiles: Sequence[str], per_row: int = 6, size=(200, 160), legends: Sequence[str] | None = None) -> bytes:
    """PNG bytes of a grid of 2D depictions (invalid strings are left out), at most :data:`GRID_MAX_WIDTH` pixels
    wide (:func:`grid_layout`); empty bytes when none is valid."""
    import io as _io

    from rdkit.Chem import Draw

    pairs = [(m, (legends[k] if legends else "")) for k, s in enumerate(smiles)
             if (m := Chem.MolFromSmiles(s)) is not None]
    if not pairs:
        return b""
    per_row, size = grid_layout(per_row, size)
    img = Draw.MolsToGridImage([m for m, _ in pairs], molsPerRow=per_row, subImgSize=size,
                               legends=[lg for _, lg in pairs])
    buf = _io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def depiction_svg(smiles: str, width: int = 220, height: int = 160) -> str | None:
    """An SVG drawing (RDKit's 2D depiction) of a molecule, or None when the SMILES is not one. Every molecule is
    drawn at one scale (a bond is an eighth of the height), so benzene looks smaller than aspirin beside it; only a
    molecule too large for the box is shrunk to fit."""
    from rdkit.Chem.Draw import rdMolDraw2D

    m, _ = parse(smiles)
    if m is None:
        return None
    drawer = rdMolDraw2D.MolDraw2DSVG(int(width), int(height))
    drawer.drawOptions().clearBackground = False
    drawer.drawOptions().fixedBondLength = max(4.0, int(height) / 8)
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, m)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


# ------------------------------------------------------------------------------------- scoring
# What the design cycle's scoring functions ask of a molecule (chemrnn.scoring); RDKit stays behind this line.
DESCRIPTORS = {
    "logP": Crippen.MolLogP,
    "TPSA": rdMolDescriptors.CalcTPSA,
    "MW": rdMolDescriptors.CalcExactMolWt,
    "HBD": rdMolDescriptors.CalcNumHBD,
    "HBA": rdMolDescriptors.CalcNumHBA,
    "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    "rings": rdMolDescriptors.CalcNumRings,
    "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
    "heavy_atoms": lambda m: m.GetNumHeavyAtoms(),
    "fraction_sp3": rdMolDescriptors.CalcFractionCSP3,
    "stereocenters": lambda m: len(Chem.FindMolChiralCenters(m, includeUnassigned=True)),
    "formal_charge": Chem.GetFormalCharge,
}
FINGERPRINTS = ("ecfp4", "ecfp6", "fcfp4", "atompairs", "ecfp4_counts")


def stereo_free(smiles: str) -> str | None:
    """GuacaMol's key for telling molecules apart: RDKit's sanitized parse (explicit hydrogens removed) written
    without stereochemistry, or None for a string RDKit cannot read."""
    m = Chem.MolFromSmiles(smiles)
    return None if m is None else Chem.MolToSmiles(m, isomericSmiles=False)


def mol(smiles: str) -> Chem.Mol | None:
    """A sanitized molecule, or None."""
    return parse(smiles)[0]


def descriptor(m: Chem.Mol, name: str) -> float:
    """One of :data:`DESCRIPTORS` of a molecule."""
    return float(DESCRIPTORS[name](m))


def qed(m: Chem.Mol) -> float:
    """Bickerton et al. 2012 quantitative estimate of drug-likeness (RDKit's implementation)."""
    from rdkit.Chem import QED

    return float(QED.qed(m))


_SA = None


def sa_score(m: Chem.Mol) -> float:
    """Ertl & Schuffenhauer 2009 synthetic accessibility, 1 (easy) … 10 (hard): RDKit Contrib's ``sascorer``."""
    global _SA
    if _SA is None:
        import importlib.util
        import os

        from rdkit.Chem import RDConfig

        spec = importlib.util.spec_from_file_location(
            "sascorer", os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py"))
        _SA = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_SA)
    return float(_SA.calculateScore(m))


def fingerprint(m: Chem.Mol, kind: str = "ecfp4", n_bits: int = 2048):
    """An RDKit fingerprint object for Tanimoto similarity: ECFP4/6 (Morgan radius 2/3), FCFP4 (feature
    invariants), atom pairs, or ECFP4 counts."""
    from rdkit.Chem import rdFingerprintGenerator as G

    if kind in ("ecfp4", "ecfp6"):
        return _morgan_generator(2 if kind == "ecfp4" else 3, n_bits).GetFingerprint(m)
    if kind == "fcfp4":
        gen = G.GetMorganGenerator(radius=2, fpSize=n_bits,
                                   atomInvariantsGenerator=G.GetMorganFeatureAtomInvGen())
        return gen.GetFingerprint(m)
    if kind == "atompairs":
        return G.GetAtomPairGenerator(fpSize=n_bits).GetFingerprint(m)
    if kind == "ecfp4_counts":
        return _morgan_generator(2, n_bits).GetCountFingerprint(m)
    raise ValueError(f"unknown fingerprint {kind!r}; choose one of {', '.join(FINGERPRINTS)}")


def tanimoto(fp, fps: list) -> list[float]:
    """Tanimoto similarity of one fingerprint to each of a list."""
    from rdkit import DataStructs

    return list(DataStructs.BulkTanimotoSimilarity(fp, fps))


def far_from(smiles: Sequence[str], references: Sequence[str], cutoff: float, n_bits: int = 4096) -> list[str]:
    """The molecules of ``smiles`` whose ECFP4 Tanimoto (``n_bits`` bits) to every reference is below ``cutoff``, in
    order; unreadable ones are left out (GuacaMol's cleaning of its training set against its holdout drugs: 0.323)."""
    from rdkit import DataStructs

    refs = [fingerprint(Chem.MolFromSmiles(r), "ecfp4", n_bits) for r in references]
    kept = []
    for s in smiles:
        m = Chem.MolFromSmiles(s)
        if m is not None and max(DataStructs.BulkTanimotoSimilarity(fingerprint(m, "ecfp4", n_bits), refs)) < cutoff:
            kept.append(s)
    return kept


def morgan_counts(m: Chem.Mol, radius: int = 2, n_bits: int = 2048):
    """Hashed Morgan count vector (numpy uint8-clipped int array): the activity model's features."""
    import numpy as np

    fp = _morgan_generator(radius, n_bits).GetCountFingerprintAsNumPy(m)
    return np.minimum(fp, 255).astype(np.uint8)


def smarts(pattern: str) -> Chem.Mol:
    """A compiled SMARTS query; ``ValueError`` naming the pattern when it does not parse."""
    q = Chem.MolFromSmarts(pattern)
    if q is None:
        raise ValueError(f"not a valid SMARTS pattern: {pattern!r}")
    return q


def has_substructure(m: Chem.Mol, query: Chem.Mol) -> bool:
    return m.HasSubstructMatch(query)


def has_carbon(m: Chem.Mol) -> bool:
    """Whether the molecule has a carbon atom (``[Xe]``, ``[U]``, ``[Na+].[Cl-]`` have none)."""
    return any(a.GetAtomicNum() == 6 for a in m.GetAtoms())


def formula_counts(m: Chem.Mol) -> dict[str, int]:
    """Element counts including implicit hydrogens, e.g. ``{'C': 9, 'H': 8, 'O': 4}``."""
    counts: dict[str, int] = {}
    for a in Chem.AddHs(m).GetAtoms():
        counts[a.GetSymbol()] = counts.get(a.GetSymbol(), 0) + 1
    return counts


def parse_formula(formula: str) -> dict[str, int]:
    """``'C9H8O4'`` → ``{'C': 9, 'H': 8, 'O': 4}``; ``ValueError`` when it is not a formula."""
    import re

    parts = re.findall(r"([A-Z][a-z]?)(\d*)", formula)
    if not parts or "".join(e + n for e, n in parts) != formula:
        raise ValueError(f"not a molecular formula: {formula!r}")
    out: dict[str, int] = {}
    for el, n in parts:
        out[el] = out.get(el, 0) + (int(n) if n else 1)
    return out


def generic_scaffold(smiles: str) -> str | None:
    """The Bemis–Murcko scaffold with every atom made carbon and every bond single (the "generic" scaffold)."""
    m = mol(smiles)
    if m is None:
        return None
    core = MurckoScaffold.GetScaffoldForMol(m)
    return Chem.MolToSmiles(MurckoScaffold.MakeScaffoldGeneric(core))


# ------------------------------------------------------------------------------------ quality filters
# RDKit's FilterCatalog alert sets by the names a config uses (Baell & Holloway 2010 PAINS; Brenk 2008; NIH;
# the ChEMBL structural-alert sets: Glaxo, Dundee, BMS, Inpharmatica, LINT, MLSMR, SureChEMBL)
ALERT_SETS = ("PAINS_A", "PAINS_B", "PAINS_C", "BRENK", "NIH", "CHEMBL_Glaxo", "CHEMBL_Dundee", "CHEMBL_BMS",
              "CHEMBL_Inpharmatica", "CHEMBL_LINT", "CHEMBL_MLSMR", "CHEMBL_SureChEMBL")
_CATALOGS: dict = {}


def alert_catalog(names: Sequence[str]):
    """One RDKit FilterCatalog holding the named alert sets (built once per set of names)."""
    from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

    key = tuple(sorted(names))
    if key not in _CATALOGS:
        params = FilterCatalogParams()
        for name in key:
            params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name))
        _CATALOGS[key] = FilterCatalog(params)
    return _CATALOGS[key]


def structural_alert(m: Chem.Mol, catalog) -> str | None:
    """The first alert of ``catalog`` that ``m`` matches, as ``"SET: description"``; None when it matches none."""
    entry = catalog.GetFirstMatch(m)
    if entry is None:
        return None
    props = set(entry.GetPropList())
    return f"{entry.GetProp('FilterSet') if 'FilterSet' in props else 'alert'}: {entry.GetDescription()}"


# elements a drug-like molecule is made of; anything else is "unusual element"
ORGANIC_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"})
# charged atoms a neutral drug-like molecule may carry (quaternary N, N-oxides, nitro groups, aromatic N+ / O-)
USUAL_CHARGES = frozenset({("N", 1), ("O", -1), ("n", 1), ("S", -1), ("P", 1)})


def atom_problems(m: Chem.Mol) -> str | None:
    """Why a molecule is not a plain closed-shell organic molecule, or None: a radical, an isotope label, an
    element outside :data:`ORGANIC_ELEMENTS`, a charge outside :data:`USUAL_CHARGES`, or a net charge."""
    for a in m.GetAtoms():
        sym = a.GetSymbol()
        if a.GetNumRadicalElectrons():
            return f"radical ({sym}, atom {a.GetIdx() + 1})"
        if a.GetIsotope():
            return f"isotope label ({a.GetIsotope()}{sym})"
        if sym not in ORGANIC_ELEMENTS:
            return f"unusual element ({sym})"
        charge = a.GetFormalCharge()
        if charge and ((sym.lower() if a.GetIsAromatic() else sym), charge) not in USUAL_CHARGES:
            return f"unusual charge ({sym}{charge:+d})"
    net = Chem.GetFormalCharge(m)
    if net:
        return f"net charge {net:+d}"
    return None


def ring_systems(m: Chem.Mol) -> list[str]:
    """The molecule's ring systems (rings that share an atom, fused or spiro, joined) as canonical SMILES of their
    atoms alone, ring bonds and exocyclic double bonds kept, atoms written without their hydrogens' count (so a
    ring system is named the same wherever it is substituted)."""
    info = m.GetRingInfo()
    systems: list[set[int]] = []
    for ring in info.AtomRings():
        ring = set(ring)
        joined = [s for s in systems if s & ring]
        for s in joined:
            ring |= s
            systems.remove(s)
        systems.append(ring)
    out = []
    for atoms in systems:
        keep = set(atoms)
        for i in atoms:  # exocyclic double bonds (C=O, C=S, S(=O)=O) belong to the ring system
            for b in m.GetAtomWithIdx(i).GetBonds():
                j = b.GetOtherAtomIdx(i)
                if j not in atoms and b.GetBondType() == Chem.BondType.DOUBLE:
                    keep.add(j)
        frag = Chem.RWMol(m)
        for a in frag.GetAtoms():
            a.SetNoImplicit(False)
            a.SetNumExplicitHs(0)
            a.SetIsotope(0)
            a.SetAtomMapNum(0)
        smi = Chem.MolFragmentToSmiles(frag, atomsToUse=sorted(keep), canonical=True, isomericSmiles=False,
                                       kekuleSmiles=False)
        out.append(smi)
    return sorted(set(out))


# ------------------------------------------------------------------ fixed cores: decoration and linking
def attachment_core(smiles: str) -> tuple[Chem.Mol | None, str]:
    """A core with attachment points (dummy atoms ``*``, ``[*:1]`` …) read and checked: ``(mol, "")`` or
    ``(None, reason)``. Each attachment point must be bonded to exactly one atom, and that atom must not be another
    attachment point; a core without one is refused."""
    mol, reason = parse(smiles)
    if mol is None:
        return None, f"is not a valid SMILES ({reason})" if reason else "is not a valid SMILES"
    dummies = [a for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if not dummies:
        return None, "has no attachment point: mark each with * or [*:1], [*:2] …"
    if len(dummies) == mol.GetNumAtoms():
        return None, "has no atoms besides its attachment points"
    for a in dummies:
        if a.GetDegree() != 1:
            return None, f"has an attachment point (atom {a.GetIdx() + 1}) bonded to {a.GetDegree()} atoms, not one"
        if a.GetNeighbors()[0].GetAtomicNum() == 0:
            return None, "has two attachment points bonded to each other"
    if len(Chem.GetMolFrags(mol)) != 1:
        return None, "is not one connected fragment"
    return mol, ""


def _plain(mol: Chem.Mol) -> Chem.Mol:
    """A copy without atom map numbers on its real atoms (the attachment points keep theirs)."""
    out = Chem.Mol(mol)
    for a in out.GetAtoms():
        if a.GetAtomicNum():
            a.SetAtomMapNum(0)
    return out


def decoration_template(mol: Chem.Mol) -> str:
    """A SMILES of the core in which every attachment point is a leaf (the last atom of a branch, or of the whole
    string), never the first atom: a language model writes the rest of the molecule where each one stands. Of the
    spellings rooted at each real atom (canonical atom order), the first that ends with an attachment point is
    taken — its last decoration is written freely until the end of the string — else the first."""
    spellings = _rooted_spellings(_plain(mol))
    ends = [s for s in spellings if _ends_with_point(s)]
    return (ends or spellings)[0]


def _rooted_spellings(mol: Chem.Mol) -> list[str]:
    """The SMILES of ``mol`` rooted at each of its real atoms (not an attachment point), in canonical atom order."""
    ranks = list(Chem.CanonicalRankAtoms(mol))
    roots = sorted((a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum()), key=lambda i: ranks[i])
    return [Chem.MolToSmiles(mol, rootedAtAtom=i) for i in roots]


def _ends_with_point(smiles: str) -> bool:
    return smiles.endswith("*") or (smiles.endswith("]") and smiles[smiles.rindex("["):].startswith("[*"))


def linker_parts(a: Chem.Mol, b: Chem.Mol) -> tuple[str, str]:
    """Two fragments with one attachment point each as ``(head, tail)``: ``head`` a SMILES of ``a`` that ends with
    its attachment point (so a linker is written after it), ``tail`` a SMILES of ``b`` without its attachment point,
    starting at the atom that carried it (so it follows the linker). Raises ValueError when ``a`` cannot be spelled
    with its attachment point last."""
    plain_a = _plain(a)
    candidates = _rooted_spellings(plain_a)
    # else random spellings (seeded), shortest first, until one ends with the attachment point
    candidates += sorted(set(Chem.MolToRandomSmilesVect(plain_a, 500, randomSeed=7)), key=lambda t: (len(t), t))
    head = next((t for t in candidates if _ends_with_point(t) and not t.startswith("*")
                 and not t.startswith("[*")), "")
    if not head:
        raise ValueError("the first fragment cannot be written with its attachment point last")
    dummy = next(x for x in b.GetAtoms() if not x.GetAtomicNum())
    start = dummy.GetNeighbors()[0].GetIdx()
    rw = Chem.RWMol(_plain(b))
    rw.RemoveAtom(dummy.GetIdx())
    start -= start > dummy.GetIdx()
    tail_mol = rw.GetMol()
    tail_mol.UpdatePropertyCache(strict=False)
    tail = Chem.MolToSmiles(tail_mol, rootedAtAtom=start)
    return head, tail


def core_query(mol: Chem.Mol) -> Chem.Mol:
    """The core as a substructure query whose attachment points match any atom: a molecule contains the core at its
    points when every point is a real atom bonded where the point was."""
    params = Chem.AdjustQueryParameters.NoAdjustments()
    params.makeDummiesQueries = True
    return Chem.AdjustQueryProperties(mol, params)


def contains_core(smiles: str, query: Chem.Mol) -> bool:
    """Whether ``smiles`` reads as a molecule that contains ``query`` (:func:`core_query`)."""
    m = Chem.MolFromSmiles(smiles) if smiles else None
    return m is not None and m.HasSubstructMatch(query)


def _framework(m: Chem.Mol) -> set[int]:
    """Bemis–Murcko framework atoms: ring atoms and the chains joining rings (side chains stripped), with the
    atoms double-bonded to them (C=O, S=O …), as RDKit's MurckoScaffold keeps them."""
    keep = {a.GetIdx() for a in m.GetAtoms()}
    ring = {a.GetIdx() for a in m.GetAtoms() if a.IsInRing()}
    changed = True
    while changed:
        changed = False
        for i in sorted(keep - ring):
            if sum(n.GetIdx() in keep for n in m.GetAtomWithIdx(i).GetNeighbors()) <= 1:
                keep.discard(i)
                changed = True
    if not keep & ring:
        return set()
    exo = {b.GetOtherAtomIdx(i) for i in keep for b in m.GetAtomWithIdx(i).GetBonds()
           if b.GetBondType() == Chem.BondType.DOUBLE and b.GetOtherAtomIdx(i) not in keep
           and b.GetOtherAtom(m.GetAtomWithIdx(i)).GetDegree() == 1}
    return keep | exo


def _with_points(m: Chem.Mol, keep: set[int], cuts: list[tuple[int, int]]) -> str:
    """SMILES of the atoms ``keep`` of ``m`` with an attachment point ``[*:k]`` in place of the outside atom of each
    cut bond ``(inside, outside)``, numbered from 1 in the order given."""
    rw = Chem.RWMol(m)
    for k, (_, j) in enumerate(cuts, 1):
        a = rw.GetAtomWithIdx(j)
        a.SetAtomicNum(0)
        a.SetAtomMapNum(k)
        a.SetFormalCharge(0)
        a.SetNumExplicitHs(0)
        a.SetNoImplicit(True)
        a.SetIsAromatic(False)
        a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    stay = keep | {j for _, j in cuts}
    for idx in sorted((a.GetIdx() for a in rw.GetAtoms() if a.GetIdx() not in stay), reverse=True):
        rw.RemoveAtom(idx)
    out = rw.GetMol()
    for b in out.GetBonds():
        if b.GetIsAromatic() and not b.IsInRing():
            b.SetIsAromatic(False)
            b.SetBondType(Chem.BondType.SINGLE)
    Chem.SanitizeMol(out)
    return Chem.MolToSmiles(out)


def scaffold_with_points(smiles: str) -> str | None:
    """The Bemis–Murcko scaffold of a molecule as a core to decorate: each bond from the scaffold to a side chain
    becomes an attachment point ``[*:1]``, ``[*:2]`` … (canonical atom order). None for a molecule without rings,
    one that is its own scaffold, or one RDKit cannot read."""
    m = Chem.MolFromSmiles(smiles)
    if m is None:
        return None
    keep = _framework(m)
    if not keep:
        return None
    ranks = list(Chem.CanonicalRankAtoms(m))
    cuts = sorted(((i, n.GetIdx()) for i in keep for n in m.GetAtomWithIdx(i).GetNeighbors()
                   if n.GetIdx() not in keep), key=lambda c: (ranks[c[0]], ranks[c[1]]))
    if not cuts:
        return None
    try:
        return _with_points(m, keep, cuts)
    except (ValueError, RuntimeError):  # RDKit's sanitization errors
        return None


def linker_cut(smiles: str) -> tuple[str, str] | None:
    """Two fragments of a molecule, each with one attachment point ``[*:1]``, left when a linker is removed: the
    acyclic path between two ring systems (at least one atom, with what hangs off it and no ring) whose removal
    leaves the two most even fragments. None where no such path exists."""
    m = Chem.MolFromSmiles(smiles)
    if m is None:
        return None
    ring = {a.GetIdx() for a in m.GetAtoms() if a.IsInRing()}
    best, best_size = None, 0
    ring_atoms = sorted(ring)
    for x, a in enumerate(ring_atoms):
        for b in ring_atoms[x + 1:]:
            path = list(Chem.GetShortestPath(m, a, b))
            inner = path[1:-1]
            if not inner or any(i in ring for i in inner):
                continue
            parts = _components(m, set(range(m.GetNumAtoms())) - set(inner))
            pa = next(p for p in parts if a in p)
            pb = next(p for p in parts if b in p)
            if pa is pb or any(p & ring for p in parts if p is not pa and p is not pb):
                continue
            size = min(len(pa), len(pb))
            if size > best_size:
                best, best_size = (pa, a, path[1], pb, b, path[-2]), size
    if best is None:
        return None
    pa, a, na, pb, b, nb = best
    try:
        return _with_points(m, pa, [(a, na)]), _with_points(m, pb, [(b, nb)])
    except (ValueError, RuntimeError):
        return None


def _components(m: Chem.Mol, atoms: set[int]) -> list[set[int]]:
    """The connected parts of the atoms ``atoms`` of ``m``."""
    left, parts = set(atoms), []
    while left:
        stack, part = [left.pop()], set()
        while stack:
            i = stack.pop()
            part.add(i)
            for n in m.GetAtomWithIdx(i).GetNeighbors():
                j = n.GetIdx()
                if j in left:
                    left.discard(j)
                    stack.append(j)
        parts.append(part)
    return parts
