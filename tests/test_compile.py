"""The ops are torch.library custom ops: torch.compile traces them with no graph break."""

import torch

import sigcg
from conftest import random_path


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2, dtype=torch.float64)
        self.sig = sigcg.Signature(3, stream=True, inverse=True, scalar_term=True)

    def forward(self, x):
        return self.sig(self.linear(x), basepoint=True).pow(2).sum(dim=-1)


def test_compile_fullgraph_forward_and_backward():
    torch._dynamo.reset()
    model = Model()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = random_path(3, 6, 2, seed=0).requires_grad_()
    eager_out = model(x)
    (eager_grad,) = torch.autograd.grad(eager_out.sum(), x)
    out = compiled(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(out, eager_out)
    torch.testing.assert_close(grad, eager_grad)


def test_opcheck():
    x = random_path(2, 5, 2, seed=1)
    init = sigcg.signature(random_path(2, 3, 2, seed=2), 3)
    for args in [(x, None, 3, False), (x, init, 3, True)]:
        torch.library.opcheck(torch.ops.sigcg.signature.default, args)


def test_tensor_product_op_and_compiled_combine():
    a = sigcg.signature(random_path(2, 5, 2, seed=3), 3)
    b = sigcg.signature(random_path(2, 5, 2, seed=4), 3)
    torch.library.opcheck(torch.ops.sigcg.tensor_product.default, (a, b, 2, 3))
    torch._dynamo.reset()
    combine = torch.compile(
        lambda x, y: sigcg.signature_combine(x, y, 2, 3), fullgraph=True, backend="aot_eager"
    )
    torch.testing.assert_close(combine(a, b), sigcg.signature_combine(a, b, 2, 3))
