"""torch DDP: two gloo ranks on the CPU train a model with a Signature layer from one fresh kernel
cache; every kernel is compiled exactly once across both ranks, and the averaged gradients equal
those of one process on the whole batch."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import torch

MODEL = textwrap.dedent("""
    import torch, sigcg

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(3, 3, dtype=torch.float64),
            sigcg.Signature(depth=3),
            torch.nn.Linear(sigcg.signature_channels(3, 3), 1, dtype=torch.float64),
        )

    def batch():
        g = torch.Generator().manual_seed(1)
        x = torch.randn(8, 20, 3, generator=g, dtype=torch.float64).cumsum(1) / 4
        return x, torch.randn(8, 1, generator=g, dtype=torch.float64)
""")

RANK = MODEL + textwrap.dedent("""
    import json, os, sys
    import torch.distributed as dist
    from sigcg.runtime import cpu
    real = cpu.compile_extension
    def counted(module_name, *args, **kwargs):
        with open(os.environ["BUILD_LOG"], "a") as f:  # O_APPEND: one line per compile
            f.write(module_name + "\\n")
        return real(module_name, *args, **kwargs)
    cpu.compile_extension = counted

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    net = torch.nn.parallel.DistributedDataParallel(model())
    x, y = batch()
    part = slice(rank * 4, rank * 4 + 4)  # equal shards: DDP's mean of means is the mean
    loss = torch.nn.functional.mse_loss(net(x[part]), y[part])
    loss.backward()
    grads = [p.grad.tolist() for p in net.parameters()]
    dist.barrier()
    dist.destroy_process_group()
    with open(os.environ["OUT"], "w") as f:
        json.dump(grads, f)
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_ranks_one_compile_per_kernel_and_equal_gradients(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "builds"
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            SIGCG_CACHE_DIR=str(cache),
            BUILD_LOG=str(log),
            OUT=str(tmp_path / f"grads{rank}.json"),
            RANK=str(rank),
            WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            OMP_NUM_THREADS="1",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RANK],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    built = Counter(Path(log).read_text().split())
    assert built and set(built.values()) == {1}, built  # each kernel once, by one rank
    assert len(list((cache / "kernels").iterdir())) == len(built)

    grads = [json.loads((tmp_path / f"grads{r}.json").read_text()) for r in range(2)]
    assert grads[0] == grads[1]  # DDP all-reduced them
    namespace: dict = {}
    exec(MODEL, namespace)
    net = namespace["model"]()
    x, y = namespace["batch"]()
    torch.nn.functional.mse_loss(net(x), y).backward()
    for got, param in zip(grads[0], net.parameters()):
        torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), param.grad)
