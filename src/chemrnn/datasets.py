"""The registry of named datasets: where each file comes from, its checksum, and where it is found here.

A name resolves in this order (DESIGN.md): the folder in ``CHEMRNN_DATA_DIR`` (same layout as
``shared/data``), the user cache (``CHEMRNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/chemrnn``, else
``~/.cache/chemrnn``), then a download from the source URL into the cache with a SHA-256 check. Only files
whose source is byte-identical to ours are downloaded; derived files (canonicalized, split, with recomputed
labels) are built from their sources by ``chemrnn datasets derive NAME`` (:mod:`chemrnn.derive`).
Tests and CI never download: they set ``CHEMRNN_DATA_DIR`` or use the sample shipped in the package.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import InputError
from .io import sha256_of  # noqa: F401  (re-exported: datasets.sha256_of)

ENV_DATA_DIR = "CHEMRNN_DATA_DIR"
ENV_CACHE_DIR = "CHEMRNN_CACHE_DIR"

_MOSES = "https://github.com/molecularsets/moses/raw/b94468cab4590ced03a98c26a35d3c1e0647d9c9/moses/dataset/data/"


@dataclass(frozen=True)
class DatasetFile:
    name: str  # registry name, "dataset" or "dataset:split"
    filename: str  # relative path inside a data folder
    sha256: str | None
    molecules: int | None
    url: str | None  # where the bytes (or the raw material) come from
    direct: bool  # True when ``url`` serves exactly this file, so a download can be checked
    description: str
    smiles_column: str | None = None  # for CSV files
    license: str = ""
    shipped: bool = False  # inside the package (chemrnn/data/)


REGISTRY: dict[str, DatasetFile] = {}


def _add(f: DatasetFile) -> None:
    REGISTRY[f.name] = f


_add(DatasetFile(
    "zinc250k", "zinc250k.csv.gz", "e310d0a2990a641efb664478f3b9fec26fed9ede2810c210c45fac13e34faac1", 249_456,
    "https://github.com/insilicomedicine/DD-VAE/raw/13498d098bae2c8177abec61ab80d8b618d274f3/data/zinc/250k_rndm_zinc_drugs_clean.smi.gz",
    False, "ZINC250k (Gomez-Bombarelli 2018), columns smiles,logP,qed,SAS recomputed with RDKit", "smiles",
    "ZINC: free to use"))
for split, sha, n in [
    ("train", "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c", 1_584_663),
    ("test", "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2", 176_074),
    ("test_scaffolds", "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde", 176_225),
]:
    _add(DatasetFile(f"moses:{split}", f"moses_{split}.csv.gz", sha, n, _MOSES + f"{split}.csv.gz", True,
                     f"MOSES benchmark {split} split (molsets 0.3.1), byte-identical", "SMILES", "MIT"))
_CHEMBL_SRC = ("https://github.com/ml-jku/Chem-xLSTM/raw/9cf7b7f25f334f4e7bbb113cbeb3c80fbef8c115/"
               "data/chemblv31/")
_add(DatasetFile("chembl:train", "chembl_train.smi.gz",
                 "86e660c45be2bf24b35df5d7dd476426e13dd0d5ea1fce2eedbacc38c09b193d", 135_684,
                 _CHEMBL_SRC + "mini_train.zip", False,
                 "ChEMBL v31 mini_train + ChEMBL 30 processed splits, RDKit-canonical, deduplicated",
                 license="CC BY-SA 3.0"))
_add(DatasetFile("chembl:valid", "chembl_valid.smi.gz",
                 "8d8bc40cc1c3541a11151d786708070d4770c615c3842e61731df2b34a7a83ab", 49_936,
                 _CHEMBL_SRC + "valid.zip", False, "ChEMBL v31 validation half, RDKit-canonical",
                 license="CC BY-SA 3.0"))
_ACT = "https://github.com/wengong-jin/multiobj-rationale/raw/9aad86145b297e4939468c6f869912e30e6fc01d/data/"
for target, sha, n, url, what in [
    ("gsk3", "a33ae26b3375a4ebdb9f4ebc71ff1d6bb8697d73054e2246d700004f37279fa1", 2_617, _ACT + "gsk3/all.txt",
     "GSK3-beta actives (ExCAPE-DB, Jin et al. 2020), 80% training part"),
    ("jnk3", "d76d65c161f7eeef21e1aae69dac6d8c6ed504e4a60de736912a55895e428985", 725, _ACT + "jnk3/all.txt",
     "JNK3 actives (ExCAPE-DB, Jin et al. 2020), 80% training part"),
    ("pfalciparum", "364eb8d568701d88152352f4533b76c3e736bdfdcf8dd7a8188a4fe0661d7b07", 10_486,
     "https://github.com/HIPS/neural-fingerprint/raw/d26dae3a293a736261fee307b28b37e548c5f218/"
     "data/2015-06-03-malaria/raw_csv.csv",
     "P. falciparum whole-cell actives, EC50 <= 1 uM (ChEMBL-NTD), 80% training part"),
]:
    _add(DatasetFile(target, f"actives/{target}_train.smi.gz", sha, n, url, False, what, license="MIT / CC BY-SA 3.0"))
_CHEMPROP = "https://raw.githubusercontent.com/chemprop/chemprop/"
for name, sha, n, url, what in [  # MoleculeNet regression sets as distributed in chemprop's repository
    ("lipo", "76054db839d8c37a118574d6461e84c7bf7624c8bd5238b0da6a3eaca06d3c94", 3_360,
     _CHEMPROP + "7277ebf/examples/data/lipo.csv",
     "Lipophilicity (AstraZeneca via ChEMBL), column logD7.4; random 80% (numpy default_rng(0)) of chemprop's 4,200"),
    ("esol", "4a5eb3772d6fbd864736ef9beb8b80ec6b24e36dc63d8aa7d191f81abe8ab459", 903,
     _CHEMPROP + "9a6522e/deepchem-test/data/delaney.csv",
     "ESOL (Delaney 2004) aqueous solubility, column logS (log10 mol/L); random 80% (numpy default_rng(0)) of "
     "chemprop's 1,128"),
    ("freesolv", "aff84a3e72d9310b5acd2fb38666eaa97a52b8a45775f1e88b195267c82e8d5c", 514,
     _CHEMPROP + "b83635b/data/freesolv.csv",
     "FreeSolv (Mobley & Guthrie 2014) hydration free energy, column dG_hydration_kcal_mol; random 80% "
     "(numpy default_rng(0)) of chemprop's 642"),
]:
    _add(DatasetFile(name, f"experimental/{name}_train.csv.gz", sha, n, url, False, what, "smiles",
                     "MoleculeNet data as redistributed by chemprop (MIT)"))
_add(DatasetFile("ch485", "ch485.smi.gz", None, None, None, False,
                 "named in the project's plan, but no source or file is known yet: place ch485.smi.gz in "
                 f"${ENV_DATA_DIR} to use it"))
_add(DatasetFile("sample", "zinc_sample.csv.gz", None, 10_000, None, True,
                 "10,000 random ZINC250k molecules with logP, qed, SAS and TPSA, shipped inside the package",
                 "smiles", "ZINC: free to use", shipped=True))
_add(DatasetFile("moses:test_sample", "moses_test_sample.smi.gz", None, 5_000, None, True,
                 "5,000 random MOSES test molecules (RDKit-canonical), shipped: the main job's reference",
                 None, "MIT", shipped=True))

ALIASES = {"moses": "moses:train", "chembl": "chembl:train", "zinc": "zinc250k"}


def names() -> list[str]:
    return list(REGISTRY)


def info(name: str) -> DatasetFile:
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(sorted(set(REGISTRY) | set(ALIASES)))}")
    return REGISTRY[key]


def is_dataset_name(text: str) -> bool:
    return ALIASES.get(text, text) in REGISTRY


def data_dir() -> Path | None:
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else None


def cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chemrnn"


def shipped_path(name: str) -> Path:
    """A dataset file shipped inside the package."""
    return Path(str(resources.files("chemrnn") / "data" / REGISTRY[name].filename))


def sample_path() -> Path:
    """The sample shipped inside the package (the embedded default)."""
    return shipped_path("sample")


def locate(name: str) -> Path | None:
    """Where the dataset's file lies on this machine without downloading, or None."""
    f = info(name)
    if f.shipped:
        return shipped_path(f.name)
    for folder in (data_dir(), cache_dir()):
        if folder is not None and (folder / f.filename).is_file():
            return folder / f.filename
    return None


def path(name: str, download: bool = True) -> Path:
    """Local path of a named dataset, downloading a directly available file into the cache if needed."""
    found = locate(name)
    if found is not None:
        return found
    f = info(name)
    hint = f"set {ENV_DATA_DIR} to a folder holding {f.filename}"
    if not f.direct or not f.url:
        if not f.url:
            raise InputError(f"dataset {f.name!r} is not available here and has no known source: {hint}")
        raise InputError(f"dataset {f.name!r} is not available here; it is derived from its source ({f.url}), "
                         f"so it cannot be fetched as-is: build it with: chemrnn datasets derive {f.name} "
                         f"(downloads the sources, or give them with --source), or {hint}")
    if not download:
        raise InputError(f"dataset {f.name!r} is not in {ENV_DATA_DIR} or the cache: {hint}, or download it "
                         f"({f.url}) with: chemrnn datasets path {f.name} --download")
    return _download(f)


def _download(f: DatasetFile) -> Path:
    target = cache_dir() / f.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download.")
    os.close(fd)
    try:
        with urllib.request.urlopen(f.url, timeout=60) as resp, open(tmp, "wb") as out:  # noqa: S310 (fixed URLs)
            shutil.copyfileobj(resp, out)
        got = sha256_of(tmp)
        if f.sha256 and got != f.sha256:
            raise InputError(f"checksum mismatch for {f.url}: expected {f.sha256}, got {got}; "
                             f"the source may have changed")
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot download dataset {f.name!r} from {f.url}: {exc}; "
                         f"set {ENV_DATA_DIR} to a folder holding {f.filename}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def resolve_input(text: str | os.PathLike) -> Path:
    """A command-line input: an existing file path, or else a dataset name."""
    p = Path(text)
    if p.exists() or not is_dataset_name(str(text)):
        return p
    return path(str(text))


def smiles_column(text: str | os.PathLike) -> str | None:
    """The registry's SMILES column for a dataset name (None for files or .smi datasets)."""
    if not Path(text).exists() and is_dataset_name(str(text)):
        return info(str(text)).smiles_column
    return None


# ------------------------------------------------------------------------------------- shipped models
# One naming scheme for the models inside the package, wherever a model is taken: ``shipped`` is the default of
# each kind; the other names say what the model was trained on.
SHIPPED_MODELS: dict[str, dict[str, str]] = {
    "language": {"shipped": "prior_moses.chemrnn", "moses": "prior_moses.chemrnn", "chembl": "prior_chembl.chemrnn"},
    "property": {"shipped": "property_zinc.chemrnn", "zinc": "property_zinc.chemrnn"},
}


def shipped_model(name: str = "shipped", kind: str = "language") -> Path:
    """The path of a model shipped inside the package, by name (``shipped``, ``moses`` …)."""
    files = SHIPPED_MODELS[kind]
    if name not in files:
        raise InputError(f"no shipped {kind} model named {name!r}; shipped: {', '.join(files)}")
    p = Path(str(resources.files("chemrnn") / "data" / files[name]))
    if not p.exists():
        raise InputError(f"the shipped {kind} model {name!r} is missing from this installation ({p}); "
                         f"pass a model path")
    return p


def resolve_model(spec: str | os.PathLike | None, kind: str = "language") -> Path:
    """A model argument: an existing path, else a shipped model's name; ``None`` is the shipped default."""
    if spec is None:
        return shipped_model("shipped", kind)
    p = Path(spec)
    if p.exists():
        return p
    if str(spec) in SHIPPED_MODELS[kind]:
        return shipped_model(str(spec), kind)
    where = "" if p.is_absolute() else f" (a relative path is read from the current folder, {Path.cwd()})"
    raise InputError(f"no such model file or directory{where}; shipped {kind} models: "
                     f"{', '.join(SHIPPED_MODELS[kind])}", p)


# ------------------------------------------------------------------ canonical sets, cached
def canonical_cache(source) -> Path:
    """Where :func:`canonical_set` caches the canonical SMILES of a training set."""
    return cache_dir() / "canonical" / f"{sha256_of(resolve_input(source))[:24]}.smi.gz"


def canonical_set(source, jobs: int = 0, progress=None) -> set[str]:
    """Canonical SMILES of a training file or dataset name, cached by the file's SHA-256 (the first time costs
    about 3 minutes for MOSES train's 1.58 M molecules on 2 cores; ``progress`` hears of it, in counts)."""
    import gzip
    import os
    from multiprocessing import get_context

    from . import chem
    from .io import atomic_write, load_smiles_list
    from .utils import reporter

    say = reporter(progress)
    path = resolve_input(source)
    cached = canonical_cache(path)
    if cached.exists():
        say(f"novelty: reading the canonical set of {path.name} (cached)")
        with gzip.open(cached, "rt") as fh:
            return set(fh.read().split())
    smiles = load_smiles_list(path, smiles_column(source))
    message = (f"novelty: canonicalizing {path.name} ({len(smiles):,} molecules, once: cached for later runs in "
               f"{cached.parent})")
    say(message, 0, len(smiles))
    chunks = [smiles[i: i + 2000] for i in range(0, len(smiles), 2000)]
    jobs = jobs or os.cpu_count() or 1
    canon: set[str] = set()
    done = 0
    pool = get_context("fork").Pool(jobs) if jobs > 1 and len(chunks) > 2 else None
    try:
        for part in (pool.imap(chem.canonical_batch, chunks) if pool else map(chem.canonical_batch, chunks)):
            canon.update(c for c, _ in part if c)
            done += len(part)
            say(message, done, len(smiles))
    finally:
        if pool is not None:
            pool.terminate()
    with atomic_write(cached) as fh:
        fh.write("\n".join(sorted(canon)) + "\n")
    return canon
