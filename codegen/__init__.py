"""sigcg's kernel generator: pure Python (no torch), KernelSpec -> source text.

Bump GENERATOR_VERSION whenever a change to the generator or the templates changes what a kernel
computes; the cache key contains it (and the rendered source), so stale binaries are never reused.
"""
GENERATOR_VERSION = "0.1.0"

from .opcount import op_counts  # noqa: E402
from .renderer import declarations, provenance_header, render  # noqa: E402
from . import schedule  # noqa: E402
from .spec import KernelSpec, signature_channels  # noqa: E402

__all__ = ["GENERATOR_VERSION", "KernelSpec", "declarations", "op_counts", "provenance_header", "render",
           "signature_channels"]
