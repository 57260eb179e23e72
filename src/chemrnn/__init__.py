"""chemrnn: recurrent neural networks on SMILES.

The Python API mirrors the CLI: ``prepare`` (``chemrnn data prepare``), ``data_stats`` (``data stats``),
``encode_all`` (``data encode``), ``datasets`` (``chemrnn datasets``).
"""
__version__ = "0.1.0"

from .errors import ChemrnnError, InputError, UnknownTokenError  # noqa: E402
from .prepare import PrepareOptions, data_stats, prepare  # noqa: E402

__all__ = ["ChemrnnError", "InputError", "UnknownTokenError", "PrepareOptions", "data_stats", "prepare",
           "__version__"]
