"""sigcg's kernel generator: pure Python (no torch), KernelSpec -> source text.

Data flows one way: a KernelSpec names a registered kernel op (kernels/), whose descriptor feeds
the op's Jinja templates (templates/) through renderer.py.  The cache key of a kernel hashes
GENERATOR_VERSION, this package's code, the templates and the spec (see identity.py), so any
change to the generator makes new kernels and never reuses stale binaries; bump
GENERATOR_VERSION on releases so provenance headers say which generator wrote them.
"""

GENERATOR_VERSION = "0.2.0"

from . import schedule  # noqa: E402
from .identity import source_key  # noqa: E402
from .kernels import REGISTRY, KernelOp  # noqa: E402
from .renderer import declarations, provenance_header, render  # noqa: E402
from .spec import KernelSpec, signature_channels  # noqa: E402

__all__ = [
    "GENERATOR_VERSION",
    "REGISTRY",
    "KernelOp",
    "KernelSpec",
    "declarations",
    "provenance_header",
    "render",
    "schedule",
    "signature_channels",
    "source_key",
]
