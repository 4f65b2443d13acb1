"""The CUDA launcher's decisions (sigcg/runtime/cuda_launch.py), without a GPU: the strategy
table, the plans (grid, threads, shared memory and opt-in, scratch, outputs to zero), the
modelled occupancy, and the GPU backend's launch path (cuda.py) driven with a fake device, so
that nothing between the plan and the kernel call is left for a GPU to find out.
"""

import contextlib
import types

import numpy as np
import pytest
import torch

from conftest import random_path
from sigcg import ops
from sigcg.codegen import REGISTRY, KernelSpec, schedule
from sigcg.runtime import cuda_launch, emulate_cuda
from sigcg.runtime.cuda_launch import H100, DeviceInfo, choose_variant, describe, prepare
from sigcg.runtime.emulation import BACKEND as EMULATION

OPS = ("signature_forward", "signature_backward")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "batch,split", [(1, 5), (8, 4), (32, 3), (128, 2), (200, 1), (527, 1), (528, 0), (4096, 0)]
)
def test_small_batches_split_until_the_device_is_full(op, batch, split):
    """(4, 6) float64 on an H100 (FILL = 4 x 132 = 528 blocks): the smallest split that gives
    batch * 4^split >= 528 blocks, capped at N - 1 letters."""
    variant = choose_variant(op, 4, 6, "float64", H100, batch)
    assert variant == ("registers" if split == 0 else f"split{split}")
    assert batch * 4**split >= H100.fill or split == 5


def test_the_strategy_table():
    # d = 1 cannot split; shallow signatures split no deeper than N - 1 letters
    assert choose_variant("signature_forward", 1, 5, "float64", H100, 1) == "registers"
    assert choose_variant("signature_backward", 2, 3, "float32", H100, 1) == "split2"
    # full batches: registers, else shared memory (opting in), else a split, else global
    assert choose_variant("signature_forward", 8, 5, "float32", H100, 10**4) == "shared"
    assert choose_variant("signature_backward", 8, 5, "float64", H100, 10**4) == "split1"
    tiny = DeviceInfo("tiny", "sm_80", 16 * 1024, 1)
    assert choose_variant("signature_forward", 8, 5, "float32", tiny, 10**4) == "split1"
    # the row kernels always use global scratch
    assert choose_variant("tensor_exp", 4, 6, "float64", H100, 1) == "global"
    # forcing, for tests, overrides the table where the op has the variant
    with cuda_launch.forced_variant("global"):
        assert choose_variant("signature_forward", 2, 3, "float64", H100, 1) == "global"
        assert choose_variant("tensor_log", 2, 3, "float64", H100, 1) == "global"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_8_at_d4_n6_keeps_4_blocks_resident_per_sm(op, dtype):
    """The word-split target: modelled occupancy >= 4 resident blocks per SM of an H100."""
    info = describe(op, 4, 6, dtype, 8, H100)
    assert info["variant"].startswith("split") and info["blocks"] == 8 * info["blocks_per_row"]
    assert info["resident_blocks_per_sm"] >= 4, info["summary"]
    assert info["resident_limit"] >= 4 and info["grid_blocks_per_sm"] >= 4
    assert "resident blocks per SM" in info["summary"]
    # one block per path would leave 124 of the 132 SMs idle
    whole = cuda_launch.plan(
        KernelSpec(op, 4, 6, dtype, "cuda", "shared"), REGISTRY[op].entries[0], 8, H100
    )
    assert cuda_launch.occupancy(whole, H100)["resident_blocks_per_sm"] < 0.1


def test_occupancy_rules():
    spec = KernelSpec("signature_forward", 8, 5, "float32", "cuda", "shared")
    plan = cuda_launch.plan(spec, spec.kernel.entries[0], 1000, H100)
    occ = cuda_launch.occupancy(plan, H100, registers=64)
    smem = plan.dynamic_smem + plan.static_smem
    assert smem > 100 * 1024 and occ["limits"]["shared memory"] == 1
    assert occ["limited_by"] == "shared memory" and occ["resident_blocks_per_sm"] == 1
    assert occ["limits"]["threads"] == 2048 // plan.threads
    assert occ["limits"]["registers"] == 65536 // (64 * 32) // (plan.threads // 32)


@pytest.mark.parametrize("variant", ["shared", "global", "registers", "split2"])
def test_plans(variant):
    op, d, N, dtype, rows = "signature_backward", 3, 4, "float64", 5
    spec = KernelSpec(op, d, N, dtype, "cuda", variant)
    entry = spec.kernel.entries[0]
    plan = cuda_launch.plan(spec, entry, rows, H100)
    layout = spec.kernel.cuda_layout(spec)
    blocking = schedule.signature_blocking(spec)
    assert plan.blocks == rows * d**blocking.split and plan.threads == blocking.threads
    assert plan.dynamic_smem == layout.dynamic_smem and plan.static_smem == layout.static_smem
    assert plan.scratch_elements == plan.blocks * layout.scratch.get(entry.name, 0)
    assert (plan.scratch_elements > 0) == (variant == "global")
    assert plan.zero_outputs == (("grad_path", "grad_initial") if variant == "split2" else ())
    forward = cuda_launch.plan(
        KernelSpec("signature_forward", d, N, dtype, "cuda", variant),
        REGISTRY["signature_forward"].entries[0],
        rows,
        H100,
    )
    assert forward.zero_outputs == ()  # every output word is written by one block


def test_opting_in_above_48_kib_and_refusing_beyond_the_device():
    spec = KernelSpec("signature_backward", 4, 6, "float64", "cuda", "shared")
    plan = cuda_launch.plan(spec, spec.kernel.entries[0], 1, H100)
    assert plan.needs_optin and plan.dynamic_smem + plan.static_smem <= H100.smem_optin
    with pytest.raises(RuntimeError, match="shared memory"):
        cuda_launch.plan(spec, spec.kernel.entries[0], 1, DeviceInfo("small", "sm_80", 48 << 10, 1))
    assert not cuda_launch.plan(
        KernelSpec("signature_forward", 2, 3, "float64", "cuda", "shared"),
        spec.kernel.entries[0],
        1,
        H100,
    ).needs_optin


@pytest.mark.parametrize("batch", [1, 600])
def test_the_emulation_launches_the_launchers_plan(batch):
    x = random_path(batch, 3, 3, seed=1, scale=0.5)
    with emulate_cuda():
        sig = ops.signature.forward(x, None, 3, False)
        assert EMULATION.last_plan == prepare(
            "signature_forward",
            3,
            3,
            "float64",
            REGISTRY["signature_forward"].entries[0],
            batch,
            H100,
            target="cuda_emulated",
        )
        ops.signature_backward.forward(x, None, sig, torch.ones_like(sig), 3, False, False)
        assert EMULATION.last_plan.blocks == batch * (1 if batch == 600 else 9)


# ---- the GPU backend's launch path, with a fake device ---------------------------------------


class _FakeFunction:
    def __init__(self):
        self.calls = []
        self.max_dynamic_shared_size_bytes = 0

    def kernel(self, grid, block, args, shared_mem=0, stream=None):
        self.calls.append(
            dict(grid=grid, block=block, args=args, shared_mem=shared_mem, stream=stream)
        )


@pytest.fixture
def fake_gpu(monkeypatch):
    """cuda.CudaBackend.launch on CPU tensors: the device queries, the module loader, CuPy's
    device context and torch's stream replaced; everything else is the real code."""
    cupy = pytest.importorskip("cupy")
    from sigcg.runtime import cuda

    functions = {}

    def module(self, spec, index):
        fake = types.SimpleNamespace(
            get_function=lambda name: functions.setdefault((spec, name), _FakeFunction())
        )
        return cuda.CudaModule(spec, fake)

    monkeypatch.setattr(cuda, "device_info", lambda index: H100)
    monkeypatch.setattr(cuda.CudaBackend, "module", module)
    monkeypatch.setattr(cupy.cuda, "Device", lambda index: contextlib.nullcontext())
    monkeypatch.setattr(
        torch.cuda, "current_stream", lambda device=None: types.SimpleNamespace(cuda_stream=1234)
    )
    monkeypatch.setattr(
        cuda.CudaBackend,
        "scratch",
        staticmethod(
            lambda plan, device: (
                torch.empty(plan.scratch_elements, dtype=torch.float64)
                if plan.scratch_elements
                else None
            )
        ),
    )
    return cuda.CudaBackend(), functions


GPU = torch.device("cuda", 0)  # only named: nothing is allocated there


def test_the_gpu_backend_launches_the_plan(fake_gpu):
    backend, functions = fake_gpu
    x = random_path(8, 5, 4, seed=2)
    init = torch.randn(8, 1364, dtype=torch.float64)
    sig = torch.randn(8, 5460, dtype=torch.float64)
    grad_path = torch.full_like(x, float("nan"))
    grad_initial = torch.full_like(init, float("nan"))
    entry = REGISTRY["signature_backward"].entries[0]
    args = dict(
        path=x,
        initial=None,
        sig=sig,
        grad_sig=sig,
        grad_path=grad_path,
        grad_initial=grad_initial,
        batch=8,
        length=5,
        stream=0,
    )
    backend.launch(("signature_backward", 4, 6, "float64"), entry, args, GPU, 4)
    plan = prepare("signature_backward", 4, 6, "float64", entry, 8, H100)
    (fn,) = [f for (spec, _), f in functions.items() if spec == plan.spec]
    (call,) = fn.calls
    assert call["grid"] == (plan.blocks,) == (8 * 256,) and call["block"] == (plan.threads,)
    assert call["shared_mem"] == plan.dynamic_smem and call["stream"].ptr == 1234
    assert not grad_path.any() and not grad_initial.any()  # zeroed: the blocks add shares
    values = call["args"]
    assert len(values) == len(entry.params) + 1 and values[-1] == np.uint64(0)  # no scratch
    assert values[0] == np.uint64(x.data_ptr()) and values[1] == np.uint64(0)  # initial NULL
    assert values[6].dtype == np.int64 and values[8].dtype == np.int32  # batch, stream flag


def test_the_gpu_backend_opts_in_and_passes_scratch(fake_gpu):
    backend, functions = fake_gpu
    x = random_path(2, 4, 4, seed=3)
    out = torch.empty(2, 5460, dtype=torch.float64)
    entry = REGISTRY["signature_forward"].entries[0]
    args = dict(path=x, initial=None, out=out, batch=2, length=4, stream=0)
    for variant in ("shared", "global"):
        with cuda_launch.forced_variant(variant):
            backend.launch(("signature_forward", 4, 6, "float64"), entry, args, GPU, 3)
            plan = prepare("signature_forward", 4, 6, "float64", entry, 2, H100)
        (fn,) = [f for (spec, _), f in functions.items() if spec == plan.spec]
        (call,) = fn.calls
        if variant == "shared":
            assert plan.needs_optin and fn.max_dynamic_shared_size_bytes == plan.dynamic_smem
            assert call["args"][-1] == np.uint64(0)
        else:
            assert plan.scratch_elements and call["args"][-1] != np.uint64(0)
            assert fn.max_dynamic_shared_size_bytes == 0
