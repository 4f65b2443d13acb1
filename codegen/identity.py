"""A kernel's source identity without rendering it.

The rendered source is a pure function of the spec, the generator's code, the templates and the
Jinja version, so hashing those identifies it.  This lets a process find a cached kernel without
paying for Jinja (tens of milliseconds on a first render).
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import astuple
from pathlib import Path

from importlib.metadata import version

from . import GENERATOR_VERSION
from .spec import KernelSpec

_HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def generator_fingerprint() -> str:
    from .renderer import TEMPLATE_DIR

    h = hashlib.sha256(f"{GENERATOR_VERSION}\0{version('jinja2')}".encode())
    for path in sorted(_HERE.glob("*.py")) + sorted(TEMPLATE_DIR.glob("*.j2")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def source_key(spec: KernelSpec) -> str:
    """24 hex digits naming the rendered source of ``spec`` (and its C declarations).

    The schedule decisions are hashed as values too, not only through schedule.py's text, so a
    tuning experiment that sets them at run time never meets a kernel built with other values.
    """
    from .schedule import block_steps, cuda_threads, plan_for

    text = (f"{generator_fingerprint()}\0{astuple(spec)!r}\0{plan_for(spec).describe()}"
            f"\0{block_steps(spec)}\0{cuda_threads(spec)}")
    return hashlib.sha256(text.encode()).hexdigest()[:24]
