"""sigcg: path signatures computed by kernels generated per (channels, depth, dtype), compiled on
first use and cached on disk.  ``import sigcg as signatory`` works for the covered API."""
from ._version import __version__
from .signature import (Signature, extract_signature_term, signature,
                        signature_channels)
from . import dispatch
from .combine import multi_signature_combine, signature_combine, signature_combine_backward
from .precompile import precompile
from .threads import get_num_threads, set_num_threads

__all__ = ["__version__", "Signature", "extract_signature_term", "get_num_threads",
           "multi_signature_combine", "precompile", "set_num_threads", "signature",
           "signature_channels", "signature_combine", "signature_combine_backward"]
