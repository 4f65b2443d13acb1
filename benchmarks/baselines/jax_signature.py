"""Plain-JAX truncated path signature: a baseline to time sigcg against on the same GPU.

What it is: the signature written the way a competent JAX user would write it for speed, with only
stable public APIs (jax.numpy, lax.scan, jax.jit, jax.vjp, jax.config), no custom kernels.
Two methods, both jitted by XLA:

* ``method="scan"`` (default, faster on CPU): one ``lax.scan`` over time; every step multiplies
  the running signature by exp(increment) with Horner's scheme, which never forms exp(increment)
  and costs about d**k multiply-adds per level k, the minimum for a sequential method.
* ``method="tree"``: the tensor exponentials of all increments at once, then Chen's identity as a
  pairwise tree reduction over time (log2(length) rounds of batched truncated tensor products).
  More flops, but parallel in time, which a GPU may prefer for short batches of long paths.
  (``lax.associative_scan`` does the same tree but also builds every prefix, which we don't need.)

Why it is fair: same maths and same output as sigcg, every level kept as a dense (batch, d**k)
array in the requested dtype, and compilation happens outside the timed calls (the functions are
built once per (depth, channels, dtype), then called with same-shaped inputs). The gradient is
JAX's own reverse mode through the same code (``jax.vjp``), as a JAX user would get it.

Conventions (as sigcg): levels 1..depth concatenated, words row-major within a level, word (i, j)
is the iterated integral with dX^i first in time, no scalar term. Example: the path
[[1,1],[3,4],[5,2],[8,6]] at depth 2 gives [7, 5, 24.5, 19, 16, 12.5].

Use:
    from benchmarks.baselines.jax_signature import make_signature, make_signature_vjp
    sig = make_signature(6, 4, "float64")            # path (B, L, 4) -> (B, 4 + ... + 4**6)
    out = sig(path).block_until_ready()              # first call compiles; time later calls
    grad = make_signature_vjp(6, 4, "float64")(path, cotangent)

    python benchmarks/baselines/jax_signature.py      # self-check against NumPy, exit 1 on FAIL

Importing this module enables float64 in JAX (``jax_enable_x64``), a process-wide switch that must
precede array creation; float32 inputs stay float32 because every function casts to its dtype.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)  # before any array exists, else float64 is float32

import jax.numpy as jnp  # noqa: E402


def _outer(x, y):
    """Tensor product of two levels, flattened row-major: x's letters come first (earlier)."""
    return (x[..., :, None] * y[..., None, :]).reshape(*x.shape[:-1], x.shape[-1] * y.shape[-1])


def _exp(delta, depth):
    """Levels 1..depth of exp(delta): level k = delta^{(x)k} / k!, built from level k-1."""
    levels = [delta]
    for k in range(2, depth + 1):
        levels.append(_outer(levels[-1], delta / k))
    return levels


def _chen(a, b, depth):
    """Truncated (1 + a) (x) (1 + b): level k = a_k + b_k + sum_i a_i (x) b_{k-i}; a is earlier."""
    return [a[k] + b[k] + sum(_outer(a[i], b[k - 1 - i]) for i in range(k)) for k in range(depth)]


def _signature_scan(increments, depth):
    def step(sig, delta):
        # Horner: new level k = ((delta/k + S_1) (x) delta/(k-1) + S_2) (x) ... (x) delta/1 + S_k
        new = []
        for k in range(1, depth + 1):
            acc = delta / k
            for j in range(1, k):
                acc = _outer(acc + sig[j - 1], delta / (k - j))
            new.append(acc + sig[k - 1])
        return new, None

    batch, _, d = increments.shape
    zero = [jnp.zeros((batch, d**k), increments.dtype) for k in range(1, depth + 1)]
    sig, _ = jax.lax.scan(step, zero, jnp.swapaxes(increments, 0, 1))  # scan runs over axis 0
    return sig


def _signature_tree(increments, depth):
    batch, n, d = increments.shape
    if n == 0:
        return [jnp.zeros((batch, d**k), increments.dtype) for k in range(1, depth + 1)]
    levels = _exp(increments, depth)  # each (batch, n, d**k): every step's exponential at once
    while n > 1:  # static shapes: a Python loop of ceil(log2 n) batched rounds, unrolled by jit
        half = n // 2
        paired = _chen(
            [x[:, 0 : 2 * half : 2] for x in levels],
            [x[:, 1 : 2 * half : 2] for x in levels],
            depth,
        )
        if n % 2:  # odd count: the last factor passes to the next round unchanged
            paired = [jnp.concatenate([p, x[:, -1:]], axis=1) for p, x in zip(paired, levels)]
        levels, n = paired, half + n % 2
    return [x[:, 0] for x in levels]


_METHODS = {"scan": _signature_scan, "tree": _signature_tree}


def _signature_fn(depth, channels, dtype, method):
    impl = _METHODS[method]

    def signature(path):
        path = jnp.asarray(path, dtype)
        assert path.ndim == 3 and path.shape[-1] == channels, path.shape
        levels = impl(jnp.diff(path, axis=1), depth)
        return jnp.concatenate(levels, axis=-1)

    return signature


def make_signature(depth: int, channels: int, dtype: str, method: str = "scan"):
    """Jitted path (batch, length, channels) -> (batch, channels + ... + channels**depth)."""
    return jax.jit(_signature_fn(depth, channels, dtype, method))


def make_signature_vjp(depth: int, channels: int, dtype: str, method: str = "scan"):
    """Jitted (path, cotangent) -> gradient of <signature(path), cotangent> w.r.t. path."""
    signature = _signature_fn(depth, channels, dtype, method)

    def vjp(path, cotangent):
        _, pullback = jax.vjp(signature, jnp.asarray(path, dtype))
        return pullback(jnp.asarray(cotangent, dtype))[0]

    return jax.jit(vjp)


if __name__ == "__main__":
    import sys

    import numpy as np

    def np_signature(path, depth):
        """Independent reference: S <- S (x) exp(delta), one step at a time, plain NumPy loops."""
        batch, length, d = path.shape
        out = np.zeros((batch, sum(d**k for k in range(1, depth + 1))))
        for b in range(batch):
            sig = [np.zeros([d] * k) for k in range(1, depth + 1)]
            for t in range(length - 1):
                delta = path[b, t + 1] - path[b, t]
                exp = [delta]
                for k in range(2, depth + 1):
                    exp.append(np.multiply.outer(exp[-1], delta) / k)
                sig = [
                    sig[k]
                    + exp[k]
                    + sum(np.multiply.outer(sig[i], exp[k - 1 - i]) for i in range(k))
                    for k in range(depth)
                ]
            out[b] = np.concatenate([s.ravel() for s in sig])
        return out

    failures = 0

    def report(name, ok, err=None):
        global failures
        failures += not ok
        print(
            f"{'OK  ' if ok else 'FAIL'} {name}" + ("" if err is None else f"  (max err {err:.2e})")
        )

    known = np.array([[[1, 1], [3, 4], [5, 2], [8, 6]]], float)
    expected = np.array([7, 5, 24.5, 19, 16, 12.5])
    rng = np.random.default_rng(0)
    path = rng.standard_normal((3, 7, 3)).cumsum(1) / 3
    ref = np_signature(path, 4)
    cot = rng.standard_normal(ref.shape)

    # Gradient of <sig(path), cot> by central differences on the NumPy reference.
    eps, fd = 1e-6, np.zeros_like(path)
    for idx in np.ndindex(path.shape):
        p, m = path.copy(), path.copy()
        p[idx] += eps
        m[idx] -= eps
        fd[idx] = np.sum((np_signature(p, 4) - np_signature(m, 4)) * cot) / (2 * eps)

    report("numpy reference, known value", np.allclose(np_signature(known, 2)[0], expected))
    for method in _METHODS:
        got = np.asarray(make_signature(2, 2, "float64", method)(known))[0]
        report(f"{method}: known value", np.allclose(got, expected), np.abs(got - expected).max())
        for length in (1, 2, 7):  # 1: empty path; 7: odd step counts in the tree
            got = np.asarray(make_signature(4, 3, "float64", method)(path[:, :length]))
            want = np_signature(path[:, :length], 4)
            err = np.abs(got - want).max()
            report(f"{method}: forward (3, {length}, 3) depth 4 float64", err < 1e-12, err)
        got32 = make_signature(4, 3, "float32", method)(path)
        err = np.abs(np.asarray(got32) - ref).max()
        report(f"{method}: forward float32", got32.dtype == jnp.float32 and err < 1e-4, err)
        grad = np.asarray(make_signature_vjp(4, 3, "float64", method)(path, cot))
        err = np.abs(grad - fd).max() / np.abs(fd).max()
        report(f"{method}: vjp vs central differences (relative)", err < 1e-7, err)

    print("FAIL" if failures else "OK", f"({failures} failed)")
    sys.exit(1 if failures else 0)
