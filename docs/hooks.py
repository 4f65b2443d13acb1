"""mkdocs hooks for sigcg's documentation (mkdocs.yml: hooks).

``<!-- sigcg:generated-kernel OP -->`` becomes the smallest checked-in kernel of ``OP`` from
generated/ (the repository's real generator output, whatever its showcase shapes are named);
``<!-- sigcg:include PATH -->`` becomes the file at PATH (relative to the repository), e.g. the
changelog or the benchmark tables.  A marker that finds nothing fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KERNEL = re.compile(r"<!-- sigcg:generated-kernel (\w+) -->")
INCLUDE = re.compile(r"<!-- sigcg:include ([\w./-]+) -->")


def _kernel(match: re.Match) -> str:
    op = match.group(1)
    candidates = sorted(
        (p for p in (REPO / "generated").glob(f"{op}_d*.c")), key=lambda p: p.stat().st_size
    )
    if not candidates:
        raise FileNotFoundError(f"no generated/{op}_*.c to show (run make generate)")
    path = candidates[0]
    return f"`generated/{path.name}`:\n\n```c\n{path.read_text().rstrip()}\n```\n"


def _include(match: re.Match) -> str:
    path = REPO / match.group(1)
    if not path.is_file():
        raise FileNotFoundError(f"{match.group(1)} is included by the docs and does not exist")
    return path.read_text()


def on_page_markdown(markdown: str, **kwargs) -> str:
    return INCLUDE.sub(_include, KERNEL.sub(_kernel, markdown))
