"""The documentation's examples run (every ```pycon block of docs/, as doctests, one namespace per
page) and every public name has an entry with an example in the API reference."""

import doctest
import re
from pathlib import Path

import pytest

import sigcg

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```pycon\n(.*?)^```", re.S | re.M)
PAGES = sorted(p for p in DOCS.rglob("*.md") if BLOCK.search(p.read_text()))
# Pages whose examples start a dask cluster or need an optional package
NEEDS = {"scale-out.md": "distributed", "runtime.md": "distributed"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    if page.name in NEEDS:
        pytest.importorskip(NEEDS[page.name])
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    import torch

    torch.manual_seed(0)
    text = "\n".join(m.group(1) for m in BLOCK.finditer(page.read_text()))
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    threads = sigcg.get_num_threads()
    try:
        runner.run(test, out=out.append)
    finally:
        sigcg.set_num_threads(threads)  # pages set it; other tests in this process must not care
    assert runner.failures == 0, "".join(out)
    assert runner.tries > 0


def test_every_public_name_is_documented_with_an_example():
    api = {p.name: p.read_text() for p in (DOCS / "api").glob("*.md")}
    missing, no_example = [], []
    for name in sigcg.__all__:
        if name.startswith("_"):
            continue
        page = next((text for text in api.values() if f"::: sigcg.{name}\n" in text), None)
        if page is None:
            missing.append(name)
            continue
        section = re.split(r"\n(?:## |::: )", page.split(f"::: sigcg.{name}\n", 1)[1])[0]
        if ">>> " not in section:  # a group of entries sharing one example block after them
            section = page.split(f"::: sigcg.{name}\n", 1)[1].split("\n## ", 1)[0]
        if ">>> " not in section:
            no_example.append(name)
    assert not missing, f"public names without an API entry (docs/api/*.md): {missing}"
    assert not no_example, f"API entries without a >>> example: {no_example}"
