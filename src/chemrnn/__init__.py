"""chemrnn: recurrent neural networks on SMILES.

The Python API is :mod:`chemrnn.api` (one call per command); the data layer mirrors ``chemrnn data``:
``chemrnn.prepare.prepare`` (``data prepare``), ``data_stats`` (``data stats``), ``chemrnn.batching.encode_all``
(``data encode``), :mod:`chemrnn.datasets` (``chemrnn datasets``).

Importing ``chemrnn`` imports no RDKit: ``prepare`` and friends load on first use, so the models and the training
loop also run where the chemistry library is absent (a GPU machine that trains from a prepared token cache).
"""
__version__ = "0.1.0"

from .errors import ChemrnnError, InputError, UnknownTokenError  # noqa: E402

__all__ = ["ChemrnnError", "InputError", "UnknownTokenError", "PrepareOptions", "data_stats", "__version__"]


def __getattr__(name: str):
    from importlib import import_module

    if name in ("PrepareOptions", "data_stats"):
        return getattr(import_module(".prepare", __name__), name)
    if name == "prepare":
        return import_module(".prepare", __name__)
    raise AttributeError(f"module 'chemrnn' has no attribute {name!r}")
