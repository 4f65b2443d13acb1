"""The emulation's checker catches what only a GPU would otherwise show (templates/cuda/
emulation.h.j2, sigcg/runtime/emulation.py): each test breaks a correct kernel the way a real
bug would -- a barrier removed, an atomic add made plain, a scratch or shared allocation
shrunk, a register shared by accident -- builds the broken source through the emulation and
requires the launch to fail with the right diagnosis.  The unbroken kernels pass the same
checks in test_cuda_emulated.py.
"""

import dataclasses
import re

import pytest
import torch

from conftest import random_path
from sigcg import ops
from sigcg.codegen import KernelSpec, render
from sigcg.runtime import cuda_launch, emulate_cuda, emulation
from sigcg.runtime.emulation import KernelCheckError

BARRIER = "emu_barrier();"


@pytest.fixture(autouse=True)
def checked():
    with emulate_cuda(), emulation.checking():
        yield


def _mutating(op, mutate):
    """Build kernels of ``op`` from mutate(source), every other op unchanged."""
    return emulation.source_override(lambda spec, src: mutate(src) if spec.op == op else src)


def _without_barrier(n):
    def mutate(src):
        parts = src.split(BARRIER)
        return BARRIER.join(parts[: n + 1]) + "/* removed */" + BARRIER.join(parts[n + 1 :])

    return mutate


def _signature(x, depth):
    return ops.signature.forward(x, None, depth, False)


def _backward(x, depth, sig, cot):
    return ops.signature_backward.forward(x, None, sig, cot, depth, False, False)


# Every barrier of these kernels is needed: removing any one of them is a race.  (With d = 1 a
# block's words are all thread 0's, and its barriers protect nothing.)
@pytest.mark.parametrize(
    "variant,d,depth", [("shared", 3, 4), ("split1", 3, 4), ("registers", 2, 3), ("split2", 2, 4)]
)
@pytest.mark.parametrize("op", ["signature_forward", "signature_backward"])
def test_removing_any_barrier_is_a_race(op, variant, d, depth):
    x = random_path(2, 5, d, seed=1, scale=0.5)
    with cuda_launch.forced_variant(variant):
        sig = _signature(x, depth)
        cot = torch.randn_like(sig)
        spec = KernelSpec(op, d, depth, target="cuda_emulated", variant=variant)
        barriers = render(spec).count(BARRIER)
        assert barriers >= 2
        for n in range(barriers):
            with (
                _mutating(op, _without_barrier(n)),
                pytest.raises(KernelCheckError, match="race in"),
            ):
                _signature(x, depth) if op == "signature_forward" else _backward(x, depth, sig, cot)


@pytest.mark.parametrize("name", ["tensor_product", "tensor_log", "tensor_exp"])
def test_removing_any_barrier_of_the_tensor_algebra_kernels_is_a_race(name):
    d, depth = 2, 3
    x = 0.3 * torch.randn(2, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    if name == "tensor_product":

        def run():
            ops.tensor_product.forward(x, x, d, depth)
            ops.tensor_product_backward.forward(x, x, x, d, depth)
    else:

        def run():
            ops.REGISTRY[name].forward(x, d, depth)
            ops.REGISTRY[f"{name}_backward"].forward(x, x, d, depth)

    run()
    barriers = render(KernelSpec(name, d, depth, target="cuda_emulated", variant="global")).count(
        BARRIER
    )
    assert barriers >= 1
    for n in range(barriers):
        with _mutating(name, _without_barrier(n)), pytest.raises(KernelCheckError, match="race in"):
            run()


def test_an_atomic_add_made_plain_is_a_race_between_blocks():
    """The split backward's blocks add their shares of dL/dx with atomics: a plain
    read-modify-write instead is a race the checker sees across blocks."""
    x = random_path(2, 5, 3, seed=2, scale=0.5)
    with cuda_launch.forced_variant("split2"):
        sig = _signature(x, 3)
        cot = torch.randn_like(sig)
        assert "ATOMIC_ADD(grad_path" in render(
            KernelSpec("signature_backward", 3, 3, target="cuda_emulated", variant="split2")
        )
        _backward(x, 3, sig, cot)

        def plain(src):
            return src.replace("ATOMIC_ADD(grad_path", "PLAIN_ADD(grad_path").replace(
                "#define ATOMIC_ADD",
                "#define PLAIN_ADD(a, i, v) ST(a, i, LD(a, i) + (v))\n#define ATOMIC_ADD",
                1,
            )

        with (
            _mutating("signature_backward", plain),
            pytest.raises(KernelCheckError, match="by block"),
        ):
            _backward(x, 3, sig, cot)


def _shrunk(monkeypatch, kernel, field, by=1):
    layout = kernel.cuda_layout

    def smaller(spec):
        out = layout(spec)
        if field == "scratch":
            return dataclasses.replace(out, scratch={k: v - by for k, v in out.scratch.items()})
        return dataclasses.replace(out, **{field: getattr(out, field) - by})

    monkeypatch.setattr(kernel, "cuda_layout", smaller)


def test_a_scratch_allocation_one_element_short_is_out_of_bounds(monkeypatch):
    from sigcg.codegen import REGISTRY

    x = random_path(2, 4, 3, seed=4, scale=0.5)
    with cuda_launch.forced_variant("global"):
        _signature(x, 4)
        _shrunk(monkeypatch, REGISTRY["signature_forward"], "scratch")
        with pytest.raises(KernelCheckError, match=r"out of bounds: .* global scratch 'scratch'"):
            _signature(x, 4)


def test_the_exp_kernels_scratch_one_element_short_is_out_of_bounds(monkeypatch):
    from sigcg.codegen import REGISTRY

    x = 0.3 * torch.randn(2, 14, dtype=torch.float64)
    ops.tensor_exp.forward(x, 2, 3)
    _shrunk(monkeypatch, REGISTRY["tensor_exp"], "scratch")
    with pytest.raises(KernelCheckError, match="out of bounds"):
        ops.tensor_exp.forward(x, 2, 3)


def test_dynamic_shared_memory_one_element_short_is_out_of_bounds(monkeypatch):
    from sigcg.codegen import REGISTRY

    x = random_path(2, 4, 3, seed=4, scale=0.5)
    with cuda_launch.forced_variant("shared"):
        _signature(x, 4)
        _shrunk(monkeypatch, REGISTRY["signature_forward"], "dynamic_smem", by=8)
        with pytest.raises(KernelCheckError, match="out of bounds: .* dynamic shared memory"):
            _signature(x, 4)


def test_static_shared_memory_must_be_what_the_launcher_planned(monkeypatch):
    from sigcg.codegen import REGISTRY

    x = random_path(2, 4, 3, seed=4, scale=0.5)
    _shrunk(monkeypatch, REGISTRY["signature_forward"], "static_smem", by=8)
    with pytest.raises(KernelCheckError, match="static shared memory"):
        _signature(x, 4)


def test_a_read_before_any_write_of_shared_memory_is_caught():
    """Δ/m of the first step not computed: the first phase reads uninitialised shared memory."""
    x = random_path(2, 4, 3, seed=4, scale=0.5)
    skip_first = lambda src: src.replace("if (length > 1) {", "if (0) {", 1)
    with (
        cuda_launch.forced_variant("shared"),
        _mutating("signature_forward", skip_first),
        pytest.raises(KernelCheckError, match="uninitialised shared array 'dl'"),
    ):
        _signature(x, 4)


def test_a_register_shared_by_accident_shows_as_thread_order_dependence():
    """A value carried from one thread to the next outside memory (a C variable of the block
    instead of a thread's own) escapes the race records, but not the thread orders."""
    x = random_path(2, 4, 3, seed=4, scale=0.5)

    def leak(src):
        src = src.replace("emu_tid = tid;", "emu_tid = tid; emu_leak = emu_leak * (T)0.5 + tid;")
        src = src.replace("static char emu_message", "static T emu_leak;\nstatic char emu_message")
        return re.sub(
            r"ST\(out, b \* SIG \+ OFF1 \+ ([^,]+), ",
            r"ST(out, b * SIG + OFF1 + \1, "
            r"emu_leak + ",
            src,
            count=1,
        )

    with (
        cuda_launch.forced_variant("registers"),
        _mutating("signature_forward", leak),
        pytest.raises(KernelCheckError, match="differs between the forward and the"),
    ):
        _signature(x, 4)


def test_writing_an_input_is_caught():
    x = random_path(2, 4, 3, seed=4, scale=0.5)
    scribble = lambda src: src.replace("const T *path", "T *path").replace(
        "const T delta = ", "ST(path, 0, (T)0); const T delta = ", 1
    )
    with (
        cuda_launch.forced_variant("shared"),
        _mutating("signature_forward", scribble),
        pytest.raises(KernelCheckError, match="of input 'path'"),
    ):
        _signature(x, 4)


def test_unchecked_launches_run_once_and_agree():
    x = random_path(3, 6, 3, seed=6, scale=0.5)
    checked = _signature(x, 4)
    with emulation.checking(False):
        unchecked = _signature(x, 4)
    torch.testing.assert_close(unchecked, checked, rtol=0, atol=0)
