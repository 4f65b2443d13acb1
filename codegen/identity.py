"""A kernel's source identity without rendering it.

The rendered source is a pure function of the spec, the generator's code, the templates and the
Jinja version, so hashing those identifies it.  This lets a process find a cached kernel without
paying for Jinja (tens of milliseconds on a first render).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import astuple
from importlib.metadata import version
from pathlib import Path

from . import GENERATOR_VERSION
from .spec import KernelSpec

_HERE = Path(__file__).resolve().parent


def generator_files() -> list[tuple[str, Path]]:
    """Every file the rendered source can depend on, by a stable name: the generator's modules
    (descriptors included) and every template, in a fixed order."""
    from .renderer import TEMPLATE_DIR

    return [(f"codegen/{p.relative_to(_HERE)}", p) for p in sorted(_HERE.rglob("*.py"))] + [
        (f"templates/{p.relative_to(TEMPLATE_DIR)}", p) for p in sorted(TEMPLATE_DIR.rglob("*.j2"))
    ]


@functools.lru_cache(maxsize=1)
def generator_fingerprint() -> str:
    h = hashlib.sha256(f"{GENERATOR_VERSION}\0{version('jinja2')}".encode())
    for name, path in generator_files():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def source_key(spec: KernelSpec) -> str:
    """24 hex digits naming the rendered source of ``spec`` (and its C declarations).

    The schedule decisions are hashed as values too, not only through schedule.py's text, so a
    tuning experiment that sets them at run time never meets a kernel built with other values.
    """
    from .schedule import decisions

    text = f"{generator_fingerprint()}\0{astuple(spec)!r}\0{decisions(spec)!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
