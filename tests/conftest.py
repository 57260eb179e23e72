"""Shared fixtures. Real molecules come from ../shared/data (via CHEMRNN_DATA_DIR) or the shipped sample."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# one torch thread per test process: the tests' small matrices run fastest so, and under xdist two workers share
# two cores without oversubscription
import torch  # noqa: E402

torch.set_num_threads(1)

if "CHEMRNN_DATA_DIR" not in os.environ and SHARED.is_dir():
    os.environ["CHEMRNN_DATA_DIR"] = str(SHARED)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = Path(os.environ.get("CHEMRNN_DATA_DIR", SHARED))
    if not (d / "zinc250k.csv.gz").is_file():
        pytest.skip(f"real datasets not found in {d} (set CHEMRNN_DATA_DIR)")
    return d


@pytest.fixture(scope="module")
def one_thread():
    """Small models gain nothing from a second thread, and a busy second core makes OpenMP waits erratic: a module
    that uses this runs torch on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def sample_smiles() -> list[str]:
    from chemrnn.io import load_smiles_list
    from chemrnn.datasets import sample_path

    return load_smiles_list(sample_path(), "smiles")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache (or the network) from a test."""
    monkeypatch.setenv("CHEMRNN_CACHE_DIR", str(tmp_path / "cache"))


def read_only_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in: chmod 555 (as root, which ignores modes, /sys instead)."""
    import os
    import tempfile

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return folder
    return Path("/sys") if os.path.isdir("/sys") else pytest.skip("no read-only folder here")


def leaf_commands(group, prefix: str = ""):
    """``(name, click command)`` of every leaf command under a click group ("lm train", …)."""
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from leaf_commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def stand_in_canonical_set(files, smiles, cache: Path | None = None) -> None:
    """Write ``smiles`` where :func:`chemrnn.api.canonical_set` caches the canonical set of each of ``files`` (in the
    cache folder ``cache``; default: this test's), so that a test of a model trained on MOSES train (1.58 M
    molecules, minutes to canonicalize) reads these few instead."""
    import gzip

    from chemrnn import api

    with pytest.MonkeyPatch.context() as mp:
        if cache is not None:
            mp.setenv("CHEMRNN_CACHE_DIR", str(cache))
        for f in files:
            target = api._canonical_cache(f)
            target.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(target, "wt") as fh:
                fh.write("\n".join(smiles) + "\n")
