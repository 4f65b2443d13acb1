"""One torch-level operator per kernel entry, registered once with its autograd contract.

A :class:`TorchOp` is called like a function and picks the cheapest route that keeps every
caller working:

  * under ``torch.compile`` (or export): the ``torch.library`` custom op ``sigcg::<name>``, with
    its fake (meta) implementation and registered autograd, so the graph has no break;
  * in eager mode with autograd: a ``torch.autograd.Function`` with the same forward and backward
    but without the dispatcher (whose first call imports ``torch._dynamo``, sympy and ~800
    modules, and which costs ~12 us a call);
  * otherwise: the implementation itself.

Double backward (``create_graph=True``) is declared per op, never silently dropped:

  * ``differentiable_backward=True``: the backward is itself made of differentiable TorchOps
    (the tensor product's adjoint is bilinear, so it is), and builds its graph as it runs;
  * ``composite=f``: ``f`` computes the same function from ops that are differentiable to any
    order; under ``create_graph`` the gradients come from autograd through ``f``;
  * neither: a RuntimeError naming the op.

``graph_backward=f`` comes first where it applies: ``f(args, output, grads, needs)`` returns the
gradients built from differentiable ops (e.g. generated second-order kernels), or None for the
cases it does not cover, which then take the routes above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, overload

import torch
from torch import Tensor

# backward(args, output, grads, needs_input_grad, compiled) -> one gradient (or None) per arg
Backward = Callable[[tuple, Any, tuple, Sequence[bool], bool], tuple]
# graph_backward(args, output, grads, needs_input_grad) -> gradients with a graph, or None
GraphBackward = Callable[[tuple, Any, tuple, Sequence[bool]], "tuple | None"]

# Every TorchOp by name, filled as the op modules are imported (tests iterate over it).
REGISTRY: dict[str, TorchOp] = {}


class TorchOp:
    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        fake: Callable[..., Any],
        *,
        backward: Backward | None = None,
        save_output: bool = False,
        differentiable_backward: bool = False,
        composite: Callable[..., Any] | None = None,
        graph_backward: GraphBackward | None = None,
        non_differentiable_outputs: Sequence[int] = (),
    ):
        if name in REGISTRY:
            raise RuntimeError(f"sigcg::{name} is defined twice")
        REGISTRY[name] = self
        self.name = name
        self.forward = forward
        self.backward = backward
        self.save_output = save_output
        self.differentiable_backward = differentiable_backward
        self.composite = composite
        self.graph_backward = graph_backward
        self.non_differentiable_outputs = tuple(non_differentiable_outputs)
        self.custom = torch.library.custom_op(f"sigcg::{name}", forward, mutates_args=())
        self.custom.register_fake(fake)
        if backward is not None:
            self.custom.register_autograd(
                self._compiled_backward, setup_context=self._setup_context
            )
            self.function = self._make_function()

    @property
    def double_backward(self) -> str:
        """How ``create_graph=True`` is served: "backward", "composite" or "unsupported"."""
        if self.backward is None:
            return "not differentiable"
        if self.differentiable_backward:
            return "backward"
        if self.graph_backward is not None:
            return "second-order kernels, else composite"
        return "composite" if self.composite is not None else "unsupported"

    def __call__(self, *args: Any) -> Any:
        if torch.compiler.is_compiling() or _tracing():
            return self.custom(*args)
        if self.backward is not None and torch.is_grad_enabled():
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    return self.function.apply(*args)
        return self.forward(*args)

    def call(self, compiled: bool, *args: Any) -> Any:
        """The op through the custom op (``compiled``: inside a traced backward) or eagerly."""
        if compiled:
            return self.custom(*args)
        return self(*args) if torch.is_grad_enabled() else self.forward(*args)

    # ---- autograd ---------------------------------------------------------------------------
    def _setup_context(self, ctx, inputs, output) -> None:
        # tensors (and absent optional tensors) go through save_for_backward, which guards
        # against in-place changes before the backward; the other arguments are constants
        saved = [a if a is None or isinstance(a, Tensor) else None for a in inputs]
        if self.save_output:
            saved += output if isinstance(output, tuple) else (output,)
        ctx.save_for_backward(*saved)
        ctx.sigcg_constants = tuple(None if isinstance(a, Tensor) else a for a in inputs)
        if self.non_differentiable_outputs:
            ctx.mark_non_differentiable(*(output[i] for i in self.non_differentiable_outputs))

    def _restore(self, ctx) -> tuple[tuple, Any]:
        saved = ctx.saved_tensors
        constants = ctx.sigcg_constants
        n = len(constants)
        args = tuple(c if s is None else s for s, c in zip(saved, constants))
        output = None
        if self.save_output:
            output = saved[n:] if len(saved) > n + 1 else saved[n]
        return args, output

    def _compiled_backward(self, ctx, *grads):
        args, output = self._restore(ctx)
        assert self.backward is not None
        return self.backward(args, output, grads, ctx.needs_input_grad, True)

    def _eager_backward(self, ctx, *grads):
        args, output = self._restore(ctx)
        assert self.backward is not None
        if not torch.is_grad_enabled() or self.differentiable_backward:
            return self.backward(args, output, grads, ctx.needs_input_grad, False)
        # create_graph=True: the gradient must itself be differentiable
        if self.graph_backward is not None:
            result = self.graph_backward(args, output, grads, ctx.needs_input_grad)
            if result is not None:
                return result
        if self.composite is None:
            raise RuntimeError(
                f"sigcg.{self.name}: double backward (create_graph=True) is not supported for "
                f"this operation; compute this gradient without create_graph, or differentiate "
                f"a different function"
            )
        return self.grad_through(self.composite, args, grads, ctx.needs_input_grad)

    def grad_through(
        self, fn: Callable[..., Any], args: tuple, grads: tuple, needs: Sequence[bool]
    ) -> tuple:
        """Gradients with a graph, one per argument, by autograd through ``fn(*args)``: the
        same outputs as the op, from ops differentiable again (the composite, or a faster
        formulation chosen by a graph_backward)."""
        with torch.enable_grad():
            outputs = fn(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [
            (o, g)
            for i, (o, g) in enumerate(zip(outputs, grads))
            if i not in self.non_differentiable_outputs and g is not None
        ]
        wanted = [
            i for i, (a, need) in enumerate(zip(args, needs)) if need and isinstance(a, Tensor)
        ]
        found = torch.autograd.grad(
            [o for o, _ in pairs],
            [args[i] for i in wanted],
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
        result: list[Tensor | None] = [None] * len(args)
        for i, g in zip(wanted, found):
            result[i] = g if g is not None else torch.zeros_like(args[i])
        return tuple(result)

    def _make_function(self) -> type[torch.autograd.Function]:
        op = self

        class Function(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *args):
                output = op.forward(*args)
                op._setup_context(ctx, args, output)
                return output

            @staticmethod
            def backward(ctx, *grads):
                return op._eager_backward(ctx, *grads)

        Function.__name__ = Function.__qualname__ = f"{self.name}_function"
        return Function


# The modes torch's tracers push (AOT autograd tracing a backward that runs composite code, for
# one): their tensors are fake, without memory, so the custom op (with its fake) must run.  A
# user's own dispatch mode (FlopCounterMode, ...) is none of these and keeps the eager route.
_TRACING_MODES = (
    torch._C._TorchDispatchModeKey.FAKE,
    torch._C._TorchDispatchModeKey.PROXY,
    torch._C._TorchDispatchModeKey.FUNCTIONAL,
)


def _tracing() -> bool:
    if not torch._C._len_torch_dispatch_stack():  # the common case: one cheap call
        return False
    return any(torch._C._get_dispatch_mode(key) is not None for key in _TRACING_MODES)


def empty(shape: Sequence[int], like: Tensor) -> Tensor:
    """An output buffer of ``like``'s dtype and device (the runtime poisons it when tests
    ask)."""
    return like.new_empty(shape)


@overload
def contiguous(t: Tensor) -> Tensor: ...
@overload
def contiguous(t: None) -> None: ...
def contiguous(t: Tensor | None) -> Tensor | None:
    """Kernels index raw pointers with C-contiguous strides and read memory as stored: views are
    copied, and a lazily negated view (torch's neg bit, e.g. from ``x.conj()`` of a complex
    tensor's real part or ``torch._neg_view``) is materialised first."""
    if t is None:
        return None
    if t.is_neg():
        t = t.resolve_neg()
    return t if t.is_contiguous() else t.contiguous()


def needs_autograd(*tensors: Tensor | None) -> bool:
    """Whether a call must go through a TorchOp's differentiable route (autograd or
    torch.compile will see it)."""
    return torch.compiler.is_compiling() or (
        torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    )


__all__ = ["REGISTRY", "TorchOp", "contiguous", "empty", "needs_autograd"]
