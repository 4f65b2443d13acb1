"""sigcg: path signatures computed by kernels generated per (channels, depth, dtype), compiled on
first use and cached on disk.  ``import sigcg as signatory`` works for the covered API."""
from ._version import __version__
from .signature import (Signature, extract_signature_term, signature,
                        signature_channels)
from . import dispatch
from .coefficient import signature_coefficient
from .combine import (multi_signature_combine, signature_combine, signature_combine_backward,
                      signature_join, signature_scale)
from .logsignature import (LogSignature, SignatureToLogSignature, logsignature,
                           logsignature_to_signature, signature_to_logsignature)
from .lyndon import (all_words, hall_basis, index_to_word, logsignature_channels,
                     lyndon_brackets, lyndon_words, word_to_index)
from .path import Path
from .precompile import precompile
from .threads import get_num_threads, set_num_threads

__all__ = ["__version__", "LogSignature", "Path", "Signature", "SignatureToLogSignature", "all_words",
           "extract_signature_term", "get_num_threads", "hall_basis", "index_to_word", "logsignature",
           "logsignature_channels", "logsignature_to_signature", "lyndon_brackets",
           "lyndon_words",
           "signature_to_logsignature", "word_to_index",
           "multi_signature_combine", "precompile", "set_num_threads", "signature",
           "signature_channels", "signature_coefficient", "signature_combine", "signature_combine_backward",
           "signature_join", "signature_scale"]
