"""sigcg's kernel generator: pure Python (no torch), KernelSpec -> source text.

The cache key of a kernel hashes GENERATOR_VERSION, this package's code, the templates and the
spec (see identity.py), so any change to the generator makes new kernels and never reuses stale
binaries; bump GENERATOR_VERSION on releases so provenance headers say which generator wrote them.
"""
GENERATOR_VERSION = "0.1.0"

from .opcount import op_counts  # noqa: E402
from .renderer import declarations, has_template, provenance_header, render  # noqa: E402
from . import schedule  # noqa: E402
from .identity import source_key  # noqa: E402
from .spec import LYNDON_TOP_OPS, PATHWISE_OPS, KernelSpec, signature_channels  # noqa: E402

__all__ = ["GENERATOR_VERSION", "KernelSpec", "LYNDON_TOP_OPS", "PATHWISE_OPS", "declarations",
           "has_template", "op_counts", "provenance_header",
           "render", "schedule", "signature_channels", "source_key"]
