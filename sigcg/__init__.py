"""sigcg: path signatures computed by kernels generated per (channels, depth, dtype), compiled on
first use and cached on disk.  ``import sigcg as signatory`` works for the covered API.

Layout (data flows one way): ``sigcg.codegen`` (kernel op descriptors, rendering; no torch) ->
``sigcg.runtime`` (compile backends, the kernel cache, the one launch path) -> ``sigcg.ops``
(torch operators with autograd) -> ``sigcg.api`` (the public functions, re-exported here);
``sigcg.algebra`` holds the tensor-algebra tables, ``sigcg.tools`` the command line.
"""

from . import unstable
from ._version import __version__
from .algebra.lyndon import (
    all_words,
    hall_basis,
    index_to_word,
    lyndon_brackets,
    lyndon_words,
    word_to_index,
)
from .api.augment import Augment
from .api.coefficient import signature_coefficient
from .api.combine import (
    multi_signature_combine,
    signature_combine,
    signature_combine_backward,
    signature_join,
    signature_scale,
)
from .api.deprecated import max_parallelism
from .api.inversion import invert_signature
from .api.logsignature import (
    LogSignature,
    SignatureToLogSignature,
    logsignature,
    logsignature_channels,
    logsignature_to_signature,
    signature_to_logsignature,
)
from .api.path import Path
from .api.signature import Signature, extract_signature_term, signature, signature_channels
from .runtime.threads import get_num_threads, set_num_threads
from .tools.precompile import precompile

__all__ = [
    "Augment",
    "LogSignature",
    "Logsignature",
    "Path",
    "Signature",
    "SignatureToLogSignature",
    "SignatureToLogsignature",
    "__version__",
    "all_words",
    "extract_signature_term",
    "get_num_threads",
    "hall_basis",
    "index_to_word",
    "invert_signature",
    "logsignature",
    "logsignature_channels",
    "logsignature_to_signature",
    "lyndon_brackets",
    "lyndon_words",
    "max_parallelism",
    "multi_signature_combine",
    "precompile",
    "set_num_threads",
    "signature",
    "signature_channels",
    "signature_coefficient",
    "signature_combine",
    "signature_combine_backward",
    "signature_join",
    "signature_scale",
    "signature_to_logsignature",
    "unstable",
    "word_to_index",
]

from .api.sigkernel import SigKernel, SigMMD, sig_kernel, sig_kernel_gram, sig_mmd, sig_score
from .api.static_kernels import (
    LinearKernel,
    Matern12Kernel,
    Matern32Kernel,
    Matern52Kernel,
    PolynomialKernel,
    RationalQuadraticKernel,
    RBFKernel,
    ScaledLinearKernel,
    StaticKernel,
)

__all__ += [
    "LinearKernel",
    "Matern12Kernel",
    "Matern32Kernel",
    "Matern52Kernel",
    "PolynomialKernel",
    "RBFKernel",
    "RationalQuadraticKernel",
    "ScaledLinearKernel",
    "SigKernel",
    "SigMMD",
    "StaticKernel",
    "sig_kernel",
    "sig_kernel_gram",
    "sig_mmd",
    "sig_score",
]

# Signatory's spellings
Logsignature = LogSignature
SignatureToLogsignature = SignatureToLogSignature
