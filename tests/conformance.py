"""The conformance registry: every public function of sigcg, with an independent reference.

Each :class:`Case` builds, for one choice of options and a dtype, the differentiable tensor
inputs, the call through sigcg and the same quantity from ``reference.py`` (plain torch, float64,
sharing no code with sigcg).  ``test_conformance.py`` runs every case through the same checks:
forward against the reference (CPU and emulated CUDA, float64 and float32), gradcheck,
torch.compile(fullgraph=True) forward and backward equal to eager, create_graph behaviour.

Adding a public function means adding its Case here; ``test_every_public_function_has_a_case``
fails until then.  A case named "function:aspect" covers one more aspect of a public function
(its option grid kept apart so that sampling reaches it).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

import reference as ref
import sigcg

F64 = torch.float64


def path(batch, length, d, seed, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, length, d, generator=g, dtype=F64) * scale).cumsum(1)


def tensor(*shape, seed, scale=0.4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64) * scale


def with_scalar(x):
    return torch.cat([torch.ones(*x.shape[:-1], 1, dtype=x.dtype), x], dim=-1)


@dataclass
class Case:
    """``build(options) -> (inputs, call, reference)``: float64 leaf tensors, a function of
    them through sigcg, and one through reference.py."""

    name: str
    build: Callable[[dict], tuple[tuple[torch.Tensor, ...], Callable, Callable]]
    options: dict[str, tuple] = field(default_factory=dict)
    differentiable: bool = True
    double_backward: bool = True  # create_graph=True gives a correct graph (else: a clear error)
    cuda: bool = True  # runs on CUDA tensors (checked under the CUDA emulation)

    def grid(self) -> list[dict]:
        keys = list(self.options)
        return [dict(zip(keys, values)) for values in itertools.product(*self.options.values())]

    def sample(self, count: int, seed: int = 0) -> list[dict]:
        """The default options first, then a seeded sample of the rest of the grid."""
        grid = self.grid()
        rest = grid[1:]
        random.Random(f"{self.name}-{seed}").shuffle(rest)
        return grid[:1] + rest[: max(0, count - 1)]


# ---- references composed from reference.py ------------------------------------------------


def ref_signature(full_path, depth, stream=False, inverse=False, initial=None):
    """Signatory's semantics: every prefix (stream) or the whole path; S^-1 with inverse;
    initial ⊗ S, or S^-1 ⊗ initial with inverse."""
    b, _, d = full_path.shape
    rows = ref.signature(full_path, depth, stream=True)
    out = []
    for j in range(rows.shape[1]):
        s = rows[:, j]
        if inverse:
            s = ref.inverse(s, d, depth)
        if initial is not None:
            a, c = ref.split(s, d, depth), ref.split(initial, d, depth)
            s = ref.flat(ref.chen(a, c) if inverse else ref.chen(c, a))
        out.append(s)
    return torch.stack(out, 1) if stream else out[-1]


def expand_bracket(tree, d, depth):
    """A bracket [a, b] = ab - ba as a dense flat tensor-algebra vector."""
    if isinstance(tree, int):
        v = torch.zeros(1, ref_width(d, depth), dtype=F64)
        v[0, tree] = 1.0
        return v
    a, b = (expand_bracket(t, d, depth) for t in tree)
    ab = ref.flat(ref.chen_product_only(ref.split(a, d, depth), ref.split(b, d, depth)))
    ba = ref.flat(ref.chen_product_only(ref.split(b, d, depth), ref.split(a, d, depth)))
    return ab - ba


def ref_width(d, depth):
    return sum(d**k for k in range(1, depth + 1))


def basis_matrix(mode, d, depth):
    """(sig, L): column h is basis element h expanded into words; for "words" the Lyndon basis
    (whose coordinates are then read at the Lyndon words, below)."""
    trees = sigcg.hall_basis(d, depth) if mode == "hall" else sigcg.lyndon_brackets(d, depth)
    return torch.cat([expand_bracket(t, d, depth) for t in trees]).T


def lyndon_positions(d, depth):
    return [sigcg.word_to_index(w, d) for w in sigcg.lyndon_words(d, depth)]


def ref_log_coordinates(expanded, d, depth, mode):
    """(rows, sig) tensor logarithms -> coordinates of ``mode``."""
    if mode == "expand":
        return expanded
    if mode == "words":
        return expanded[:, lyndon_positions(d, depth)]
    # the Lie element is an exact combination of the basis: least squares recovers it
    return torch.linalg.lstsq(basis_matrix(mode, d, depth), expanded.T).solution.T


def ref_lie_element(coords, d, depth, mode):
    """Coordinates of ``mode`` -> the expanded Lie element (rows, sig)."""
    if mode == "expand":
        return coords
    if mode == "words":  # the Lie element whose coefficients at the Lyndon words are coords
        m = basis_matrix("brackets", d, depth)
        return (m @ torch.linalg.solve(m[lyndon_positions(d, depth)], coords.T)).T
    return (basis_matrix(mode, d, depth) @ coords.T).T


def rows(fn, x, stream):
    """Apply a (rows, ·) -> (rows, ·) reference to (B, ·) or (B, L, ·)."""
    if not stream:
        return fn(x)
    b, n, w = x.shape
    out = fn(x.reshape(b * n, w))
    return out.reshape(b, n, -1)


# ---- the cases ----------------------------------------------------------------------------


TRANSFORMS = {
    "none": (False, False),
    "time": (True, False),
    "leadlag": (False, True),
    "both": (True, True),
}
END_TIME = 0.7
LENGTHS = [5, 2, 4]  # valid points of the 3 paths of 5 points the cases use


def transform_options(o) -> dict:
    """The transform keyword arguments of option set ``o`` (none: the defaults, unspoken)."""
    time_aug, lead_lag = TRANSFORMS[o.get("transform", "none")]
    if not (time_aug or lead_lag):
        return {}
    return dict(time_aug=time_aug, lead_lag=lead_lag, end_time=END_TIME)


def transformed_channels(d, o) -> int:
    time_aug, lead_lag = TRANSFORMS[o.get("transform", "none")]
    return d * (2 if lead_lag else 1) + int(time_aug)


def ref_transform(x, o):
    time_aug, lead_lag = TRANSFORMS[o.get("transform", "none")]
    return ref.transform(x, time_aug, lead_lag, END_TIME) if (time_aug or lead_lag) else x


def with_basepoint(x, bp):
    if isinstance(bp, torch.Tensor):
        return torch.cat([bp[:, None], x], 1)
    if bp:
        return torch.cat([torch.zeros_like(x[:, :1]), x], 1)
    return x


def ref_ragged(full_path, o, lengths, fn):
    """fn(transformed path (1, L', d'), row b) per row of full_path cut to its length; stream
    outputs (1, n, S) are padded to the full batch's rows by repeating their last row."""
    if lengths is None:
        return fn(ref_transform(full_path, o), None)
    rows_out = []
    for b, n in enumerate(lengths):
        rows_out.append(fn(ref_transform(full_path[b : b + 1, :n], o), b))
    if rows_out[0].ndim == 3:
        total = ref_transform(full_path, o).shape[1] - 1
        rows_out = [
            torch.cat([r, r[:, -1:].expand(1, total - r.shape[1], r.shape[2])], 1) for r in rows_out
        ]
    return torch.cat(rows_out, 0)


def _signature(o):
    d, depth = 2, 3
    d_out = transformed_channels(d, o)
    x = path(3, 5, d, seed=1)
    inputs = [x]
    if o["basepoint"] == "tensor":
        inputs.append(tensor(3, d, seed=2))
    if o["initial"]:
        init = ref.signature(path(3, 4, d_out, seed=3), depth)
        inputs.append(with_scalar(init) if o["scalar_term"] else init)
    lengths = LENGTHS if o.get("lengths") else None
    extra = transform_options(o)

    def unpack(args):
        args = list(args)
        x = args.pop(0)
        bp = args.pop(0) if o["basepoint"] == "tensor" else o["basepoint"] == "origin"
        init = args.pop(0) if o["initial"] else None
        return x, bp, init

    def call(*args):
        x, bp, init = unpack(args)
        lens = None if lengths is None else torch.tensor(lengths)
        if o["module"]:
            module = sigcg.Signature(depth, o["stream"], o["inverse"], o["scalar_term"], **extra)
            return module(
                x, basepoint=bp, initial=init, **({} if lens is None else {"lengths": lens})
            )
        kwargs = dict(
            stream=o["stream"],
            basepoint=bp,
            inverse=o["inverse"],
            initial=init,
            scalar_term=o["scalar_term"],
            **extra,
        )
        if lens is not None:
            kwargs["lengths"] = lens
        return sigcg.signature(x, depth, **kwargs)

    def reference(*args):
        x, bp, init = unpack(args)
        x = with_basepoint(x, bp)
        if init is not None and o["scalar_term"]:
            init = init[:, 1:]
        lens = None if lengths is None else [n + x.shape[1] - 5 for n in lengths]

        def one(xt, b):
            i = init if b is None or init is None else init[b : b + 1]
            return ref_signature(xt, depth, o["stream"], o["inverse"], i)

        out = ref_ragged(x, o, lens, one)
        return with_scalar(out) if o["scalar_term"] else out

    return tuple(inputs), call, reference


WINDOWS = {  # option -> the keyword arguments (for paths of 6 points)
    "pair": dict(window=(3, 2)),
    "table": dict(windows=torch.tensor([[1, 4], [0, 3], [3, 6], [2, 5]])),
    "mixed": dict(windows=torch.tensor([[0, 6], [2, 4], [1, 5], [3, 5], [0, 2]])),
}


def window_table(option, length):
    if option == "pair":
        size, stride = WINDOWS["pair"]["window"]
        return [(s, s + size) for s in range(0, length - size + 1, stride)]
    return [tuple(w) for w in WINDOWS[option]["windows"].tolist()]


def ref_windows(x, o, fn):
    """fn(transformed window (B, n, d')) stacked over the windows: a window [s, e) of the
    points is the transformed path's part between them (the time channel keeps the whole
    path's scale)."""
    time_aug, lead_lag = TRANSFORMS[o.get("transform", "none")]
    full = ref_transform(x, o)
    out = []
    for s, e in window_table(o["window"], x.shape[1]):
        if lead_lag:
            s, e = 2 * s, 2 * e - 1
        out.append(fn(full[:, s:e]))
    return torch.stack(out, 1)


def _signature_windows(o):
    d, depth = 2, 3
    d_out = transformed_channels(d, o)
    x = path(2, 6, d, seed=90)
    inputs = [x]
    if o["initial"]:
        init = ref.signature(path(2, 4, d_out, seed=91), depth)
        inputs.append(with_scalar(init) if o["scalar_term"] else init)
    extra = dict(transform_options(o), **WINDOWS[o["window"]])

    def call(*args):
        init = args[1] if o["initial"] else None
        return sigcg.signature(
            args[0],
            depth,
            inverse=o["inverse"],
            initial=init,
            scalar_term=o["scalar_term"],
            **extra,
        )

    def reference(*args):
        init = args[1] if o["initial"] else None
        if init is not None and o["scalar_term"]:
            init = init[:, 1:]
        out = ref_windows(args[0], o, lambda w: ref_signature(w, depth, False, o["inverse"], init))
        return with_scalar(out) if o["scalar_term"] else out

    return tuple(inputs), call, reference


def _logsignature(o):
    d, depth = 2, 3
    d_out = transformed_channels(d, o)
    x = path(3, 5, d, seed=4)
    inputs = [x] + ([tensor(3, d, seed=5)] if o["basepoint"] == "tensor" else [])
    lengths = LENGTHS if o.get("lengths") else None
    extra = transform_options(o)

    def unpack(args):
        bp = args[1] if o["basepoint"] == "tensor" else o["basepoint"] == "origin"
        return args[0], bp

    def call(*args):
        x, bp = unpack(args)
        lens = {} if lengths is None else {"lengths": torch.tensor(lengths)}
        if o["module"]:
            module = sigcg.LogSignature(depth, o["stream"], o["inverse"], o["mode"], **extra)
            return module(x, bp, **lens)
        return sigcg.logsignature(
            x,
            depth,
            stream=o["stream"],
            basepoint=bp,
            inverse=o["inverse"],
            mode=o["mode"],
            **extra,
            **lens,
        )

    def reference(*args):
        x, bp = unpack(args)
        x = with_basepoint(x, bp)
        lens = None if lengths is None else [n + x.shape[1] - 5 for n in lengths]
        sig = ref_ragged(
            x, o, lens, lambda xt, b: ref_signature(xt, depth, o["stream"], o["inverse"])
        )
        return rows(
            lambda s: ref_log_coordinates(ref.log(s, d_out, depth), d_out, depth, o["mode"]),
            sig,
            o["stream"],
        )

    return tuple(inputs), call, reference


def _logsignature_windows(o):
    d, depth = 2, 3
    d_out = transformed_channels(d, o)
    x = path(2, 6, d, seed=92)
    extra = dict(transform_options(o), **WINDOWS[o["window"]])

    def call(x):
        return sigcg.logsignature(x, depth, inverse=o["inverse"], mode=o["mode"], **extra)

    def reference(x):
        sig = ref_windows(x, o, lambda w: ref_signature(w, depth, False, o["inverse"]))
        return rows(
            lambda s: ref_log_coordinates(ref.log(s, d_out, depth), d_out, depth, o["mode"]),
            sig,
            True,
        )

    return (x,), call, reference


def _signature_to_logsignature(o):
    d, depth = 2, 3
    sig = ref.signature(path(3, 5, d, seed=6), depth, stream=o["stream"])
    x = with_scalar(sig) if o["scalar_term"] else sig

    def call(s):
        if o["module"]:
            return sigcg.SignatureToLogSignature(
                d, depth, o["stream"], o["mode"], o["scalar_term"]
            )(s)
        return sigcg.signature_to_logsignature(
            s, d, depth, stream=o["stream"], mode=o["mode"], scalar_term=o["scalar_term"]
        )

    def reference(s):
        s = s[..., 1:] if o["scalar_term"] else s
        return rows(
            lambda r: ref_log_coordinates(ref.log(r, d, depth), d, depth, o["mode"]), s, o["stream"]
        )

    return (x,), call, reference


def _logsignature_to_signature(o):
    d, depth = 2, 3
    width = ref_width(d, depth) if o["mode"] == "expand" else sigcg.logsignature_channels(d, depth)
    shape = (3, 2, width) if o["stream"] else (3, width)
    coords = tensor(*shape, seed=7)

    def call(c):
        return sigcg.logsignature_to_signature(
            c, d, depth, mode=o["mode"], stream=o["stream"], scalar_term=o["scalar_term"]
        )

    def reference(c):
        out = rows(
            lambda r: ref.exp(ref_lie_element(r, d, depth, o["mode"]), d, depth), c, o["stream"]
        )
        return with_scalar(out) if o["scalar_term"] else out

    return (coords,), call, reference


def _combine(o):
    d, depth = 2, 3
    count = o["count"]
    sigs = [tensor(3, ref_width(d, depth), seed=10 + i) for i in range(count)]
    inputs = tuple(with_scalar(s) if o["scalar_term"] else s for s in sigs)

    def call(*args):
        if count == 2 and not o["multi"]:
            return sigcg.signature_combine(
                *args, d, depth, inverse=o["inverse"], scalar_term=o["scalar_term"]
            )
        return sigcg.multi_signature_combine(
            list(args), d, depth, inverse=o["inverse"], scalar_term=o["scalar_term"]
        )

    def reference(*args):
        levels = [ref.split(a[:, 1:] if o["scalar_term"] else a, d, depth) for a in args]
        if o["inverse"]:
            levels = levels[::-1]
        out = levels[0]
        for lv in levels[1:]:
            out = ref.chen(out, lv)
        out = ref.flat(out)
        return with_scalar(out) if o["scalar_term"] else out

    return inputs, call, reference


def _combine_backward(o):
    d, depth = 2, 3
    width = ref_width(d, depth) + (1 if o["scalar_term"] else 0)
    grad, s1, s2 = (tensor(3, width, seed=20 + i) for i in range(3))

    def call(g, a, b):
        return sigcg.signature_combine_backward(
            g, a, b, d, depth, inverse=o["inverse"], scalar_term=o["scalar_term"]
        )

    def reference(g, a, b):
        a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
        strip = (lambda t: t[:, 1:]) if o["scalar_term"] else (lambda t: t)
        first, second = (b, a) if o["inverse"] else (a, b)
        out = ref.flat(
            ref.chen(ref.split(strip(first), d, depth), ref.split(strip(second), d, depth))
        )
        return torch.autograd.grad(out, (a, b), strip(g))

    return (grad, s1, s2), call, reference


def _join(o):
    d, depth = 2, 3
    sig = ref.signature(path(3, 4, d, seed=30), depth)
    inc = tensor(*((3, d) if o["segments"] == 1 else (3, o["segments"], d)), seed=31)

    def call(s, i):
        return sigcg.signature_join(s, i, depth)

    def reference(s, i):
        i = i[:, None] if i.ndim == 2 else i
        out = ref.split(s, d, depth)
        for k in range(i.shape[1]):
            out = ref.chen(out, ref.tensor_exp(i[:, k], depth))
        return ref.flat(out)

    return (sig, inc), call, reference


def _scale(o):
    d, depth = 3, 3
    sig = ref.signature(path(2, 4, d, seed=32), depth)
    scales = tensor(2, d, seed=33) + 1.0

    def reference(s, lam):
        levels, factor = [], torch.ones(2, 1, dtype=lam.dtype)
        for lv in ref.split(s, d, depth):
            factor = (factor[:, :, None] * lam[:, None, :]).reshape(2, -1)
            levels.append(lv * factor)
        return ref.flat(levels)

    return (sig, scales), lambda s, lam: sigcg.signature_scale(s, lam, depth), reference


WORDS = [(0,), (1, 0), (2, 1, 0), (0, 0, 2, 1)]


def _coefficient(o):
    d = 3
    d_out = transformed_channels(d, o)
    x = path(2, 5, d, seed=34)
    inputs = [x] + ([tensor(2, d, seed=35)] if o["basepoint"] == "tensor" else [])
    extra = transform_options(o)

    def unpack(args):
        return args[0], (args[1] if o["basepoint"] == "tensor" else o["basepoint"] == "origin")

    def call(*args):
        x, bp = unpack(args)
        return sigcg.signature_coefficient(x, WORDS, basepoint=bp, **extra)

    def reference(*args):
        x, bp = unpack(args)
        full = ref.signature(ref_transform(with_basepoint(x, bp), o), 4)
        return full[:, [sigcg.word_to_index(w, d_out) for w in WORDS]]

    return tuple(inputs), call, reference


def _path_queries(o):
    d, depth = 2, 3
    d_out = transformed_channels(d, o)
    x, extra_points = path(2, 6, d, seed=36), path(2, 3, d, seed=37)
    start, end = o["interval"]
    extra = transform_options(o)
    time_aug, lead_lag = TRANSFORMS[o.get("transform", "none")]

    def call(a, b):
        p = sigcg.Path(a, depth, scalar_term=o["scalar_term"], **extra)
        p.update(b)
        if o["query"] == "signature":
            return p.signature(start, end)
        return p.logsignature(start, end, mode="brackets")

    def reference(a, b):
        full = torch.cat([a, b], 1)
        # the time channel keeps the rate of the 6 points given first
        first, whole = (11, 17) if lead_lag else (6, 9)
        transformed = ref_transform_scaled(full, o, END_TIME * (whole - 1) / (first - 1))
        s, e, _ = slice(start, end).indices(full.shape[1])
        if lead_lag:
            s, e = 2 * s, 2 * e - 1
        sig = ref.signature(transformed[:, s:e], depth)
        if o["query"] == "logsignature":
            return ref_log_coordinates(ref.log(sig, d_out, depth), d_out, depth, "brackets")
        return with_scalar(sig) if o["scalar_term"] else sig

    return (x, extra_points), call, reference


def ref_transform_scaled(x, o, end_time):
    time_aug, lead_lag = TRANSFORMS[o.get("transform", "none")]
    return ref.transform(x, time_aug, lead_lag, end_time) if (time_aug or lead_lag) else x


def _extract_term(o):
    d, depth = 2, 3
    sig = tensor(3, ref_width(d, depth) + (1 if o["scalar_term"] else 0), seed=38)

    def reference(s):
        s = s[:, 1:] if o["scalar_term"] else s
        return ref.split(s, d, depth)[o["level"] - 1]

    return (
        (sig,),
        lambda s: sigcg.extract_signature_term(s, d, o["level"], o["scalar_term"]),
        reference,
    )


def _invert_signature(o):
    d, depth = o["channels"], o["depth"]
    sig = ref.signature(path(3, 6, d, seed=40, scale=0.5), depth)
    inputs = [sig] + ([tensor(3, d, seed=41)] if o["initial"] else [])

    def call(*args):
        return sigcg.invert_signature(
            args[0], depth, d, initial_position=args[1] if o["initial"] else None
        )

    def reference(*args):
        """Chang and Lyons' insertion, word by word: the derivative on piece p, letter c, is
        depth * sum_w S^{N-1}[w] S^N[w with c inserted at p] / |S^{N-1}|^2."""
        s, start = args[0], (args[1] if o["initial"] else torch.zeros(3, d, dtype=F64))
        levels = ref.split(s, d, depth)
        if depth == 1:
            return torch.stack([start, start + levels[0]], 1)
        low, top = levels[-2], levels[-1]
        words = list(itertools.product(range(d), repeat=depth - 1))
        points = [start]
        for p in range(depth):
            columns = []
            for c in range(d):
                total = 0
                for i, w in enumerate(words):
                    word = w[:p] + (c,) + w[p:]
                    index = sum(letter * d ** (depth - 1 - j) for j, letter in enumerate(word))
                    total = total + low[:, i] * top[:, index]
                columns.append(total)
            x = depth * torch.stack(columns, 1) / (low * low).sum(1, keepdim=True)
            points.append(points[-1] + x / depth)
        return torch.stack(points, 1)

    return tuple(inputs), call, reference


def _augment(o):
    d = 2
    x = path(3, 7, d, seed=42)
    torch.manual_seed(43)  # the module's initial weights
    original = o["original"] or o["layers"] == ()  # something to output
    module = sigcg.Augment(
        d,
        o["layers"],
        kernel_size=o["kernel"],
        include_original=original,
        include_time=o["time"],
        activation=torch.tanh,
    ).double()

    def call(x):
        return module.to(x.dtype)(x)

    def reference(x):
        """The convolution as windows times weights, in plain torch."""
        k, length = o["kernel"], x.shape[1] - o["kernel"] + 1
        pieces = []
        if original:
            pieces.append(x[:, k - 1 :])
        if o["time"]:
            t = torch.tensor([i / max(length - 1, 1) for i in range(length)], dtype=x.dtype)
            pieces.append(t[None, :, None].expand(x.shape[0], length, 1))
        if module.convs:
            windows = torch.stack([x[:, i : i + k] for i in range(length)], 1)  # (B, L', k, d)
            convs = list(module.convs)
            w = convs[0].weight.detach().to(x.dtype)  # (out, d, k)
            y = torch.einsum("blkc,ock->blo", windows, w) + convs[0].bias.detach().to(x.dtype)
            for conv in convs[1:]:
                w = conv.weight.detach().to(x.dtype)[:, :, 0]
                y = torch.tanh(y) @ w.T + conv.bias.detach().to(x.dtype)
            pieces.append(y)
        return torch.cat(pieces, 2)

    return (x,), call, reference


CASES = [
    Case(
        "invert_signature",
        _invert_signature,
        dict(channels=(2, 3), depth=(3, 1, 4), initial=(False, True)),
    ),
    Case(
        "Augment",
        _augment,
        dict(
            layers=((4, 3), (), 5),
            kernel=(3, 1),
            original=(True, False),
            time=(True, False),
        ),
    ),
    Case(
        "signature",
        _signature,
        dict(
            stream=(False, True),
            basepoint=("none", "origin", "tensor"),
            inverse=(False, True),
            initial=(False, True),
            scalar_term=(False, True),
            module=(False, True),
            transform=tuple(TRANSFORMS),
            lengths=(False, True),
        ),
    ),
    Case(
        "signature:windows",
        _signature_windows,
        dict(
            window=tuple(WINDOWS),
            transform=tuple(TRANSFORMS),
            inverse=(False, True),
            initial=(False, True),
            scalar_term=(False, True),
        ),
    ),
    Case(
        "logsignature",
        _logsignature,
        dict(
            mode=("words", "brackets", "hall", "expand"),
            stream=(False, True),
            basepoint=("none", "origin", "tensor"),
            inverse=(False, True),
            module=(False, True),
            transform=tuple(TRANSFORMS),
            lengths=(False, True),
        ),
    ),
    Case(
        "logsignature:windows",
        _logsignature_windows,
        dict(
            window=tuple(WINDOWS),
            mode=("words", "brackets", "expand"),
            transform=tuple(TRANSFORMS),
            inverse=(False, True),
        ),
    ),
    Case(
        "signature_to_logsignature",
        _signature_to_logsignature,
        dict(
            mode=("words", "brackets", "hall", "expand"),
            stream=(False, True),
            scalar_term=(False, True),
            module=(False, True),
        ),
    ),
    Case(
        "logsignature_to_signature",
        _logsignature_to_signature,
        dict(
            mode=("words", "brackets", "hall", "expand"),
            stream=(False, True),
            scalar_term=(False, True),
        ),
    ),
    Case(
        "signature_combine",
        _combine,
        dict(count=(2, 3), multi=(False, True), inverse=(False, True), scalar_term=(False, True)),
    ),
    Case(
        "signature_combine_backward",
        _combine_backward,
        dict(inverse=(False, True), scalar_term=(False, True)),
        differentiable=False,
    ),
    Case("signature_join", _join, dict(segments=(1, 3))),
    Case("signature_scale", _scale, dict(none=(None,))),
    Case(
        "signature_coefficient",
        _coefficient,
        dict(basepoint=("none", "origin", "tensor"), transform=tuple(TRANSFORMS)),
    ),
    Case(
        "Path",
        _path_queries,
        dict(
            query=("signature", "logsignature"),
            interval=((None, None), (2, 8), (-4, None)),
            scalar_term=(False, True),
            transform=tuple(TRANSFORMS),
        ),
    ),
    Case("extract_signature_term", _extract_term, dict(level=(1, 2, 3), scalar_term=(False, True))),
]

# Public names whose case is another's (the modules are options of their function's case) or
# which take no tensors (tables of words and sizes, settings), tested in their own files.
COVERED_ELSEWHERE = {
    "Logsignature": "logsignature",
    "SignatureToLogsignature": "signature_to_logsignature",
    "max_parallelism": "test_signatory_api.py",
    "unstable": "test_signatory_api.py",
    "Signature": "signature",
    "LogSignature": "logsignature",
    "SignatureToLogSignature": "signature_to_logsignature",
    "multi_signature_combine": "signature_combine",
    "all_words": "test_logsignature.py",
    "hall_basis": "test_logsignature.py",
    "index_to_word": "test_coefficient.py",
    "word_to_index": "test_coefficient.py",
    "logsignature_channels": "test_logsignature.py",
    "lyndon_brackets": "test_logsignature.py",
    "lyndon_words": "test_logsignature.py",
    "signature_channels": "test_signature.py",
    "get_num_threads": "test_signature.py",
    "set_num_threads": "test_signature.py",
    "precompile": "test_cli.py",
    "__version__": "test_cli.py",
}


# ---- signature kernels (sigcg.api.sigkernel; reference: sigkernel_reference.py) -----------

STATIC_KERNELS = {  # option -> (sigcg class or None, reference kind, reference parameter name)
    "linear": (None, "linear", None),
    "scaled_linear": (sigcg.ScaledLinearKernel, "scaled_linear", "scale"),
    "rbf": (sigcg.RBFKernel, "rbf", "sigma"),
    "matern32": (sigcg.Matern32Kernel, "matern32", "sigma"),
    "rational_quadratic": (sigcg.RationalQuadraticKernel, "rational_quadratic", "sigma"),
}


def _static(option, args):
    """(sigcg static kernel, reference kind, reference parameters) with the kernel's parameter
    taken from the differentiable inputs (the last one) unless the kernel is linear."""
    cls, kind, name = STATIC_KERNELS[option]
    if cls is None:
        return None, kind, {}
    extra = {"alpha": 0.7} if option == "rational_quadratic" else {}
    return cls(args[-1], **extra), kind, {name: args[-1], **extra}


def _static_inputs(option):
    return [] if option == "linear" else [torch.tensor(0.8, dtype=F64)]


def _orders(lam):
    return (lam, lam) if isinstance(lam, int) else lam


def clamp(x, lengths):
    """Points past each row's length replaced by its last valid one (plain torch)."""
    return torch.stack(
        [torch.cat([r[:n], r[n - 1 : n].expand(r.shape[0] - n, -1)]) for r, n in zip(x, lengths)]
    )


def _sig_kernel(o):
    import sigkernel_reference as skref

    x, y = path(3, 4, 2, seed=70, scale=0.3), path(3, 5, 2, seed=71, scale=0.3)
    lam = o["dyadic_order"]
    extra = transform_options(o)
    lengths = ([4, 2, 3], [5, 3, 2]) if o.get("lengths") else None
    if lengths is not None:
        extra["lengths"] = tuple(torch.tensor(v) for v in lengths)

    def call(*args):
        static = _static(o["static"], args)[0]
        if o["form"] == "module":
            module = sigcg.SigKernel(lam, static, **transform_options(o))
            return module(args[0], args[1], **({"lengths": extra["lengths"]} if lengths else {}))
        return sigcg.sig_kernel(
            args[0], args[1], lam, static, return_grid=o["form"] == "grid", **extra
        )

    def reference(*args):
        _, kind, params = _static(o["static"], args)
        grid = o["form"] == "grid"
        a, b = args[0], args[1]
        if lengths is None or grid:
            if lengths is not None:  # the grid runs on over the padding, constant
                a, b = clamp(a, lengths[0]), clamp(b, lengths[1])
                if o.get("transform", "none") != "none":  # each path's own time scale
                    return torch.cat(
                        [
                            _grid_of_clamped(
                                a[i : i + 1], b[i : i + 1], lengths, i, o, lam, kind, params
                            )
                            for i in range(a.shape[0])
                        ]
                    )
            return skref.sig_kernel(
                ref_transform(a, o),
                ref_transform(b, o),
                *_orders(lam),
                kind,
                return_grid=grid,
                **params,
            )
        return torch.cat(
            [
                skref.sig_kernel(
                    ref_transform(a[i : i + 1, :n], o),
                    ref_transform(b[i : i + 1, :m], o),
                    *_orders(lam),
                    kind,
                    **params,
                )
                for i, (n, m) in enumerate(zip(*lengths))
            ]
        )

    return tuple([x, y] + _static_inputs(o["static"])), call, reference


def _grid_of_clamped(a, b, lengths, i, o, lam, kind, params):
    """The PDE grid of one pair whose paths run on, constant, past their lengths: the
    transformed valid points, padded with their last point."""
    import sigkernel_reference as skref

    def pad(x, n):
        t = ref_transform(x[:, :n], o)
        full = ref_transform(x, o).shape[1]
        return torch.cat([t, t[:, -1:].expand(1, full - t.shape[1], -1)], 1)

    return skref.sig_kernel(
        pad(a, lengths[0][i]),
        pad(b, lengths[1][i]),
        *_orders(lam),
        kind,
        return_grid=True,
        **params,
    )


def _sig_kernel_gram(o):
    import sigkernel_reference as skref

    x, y = path(3, 4, 2, seed=72, scale=0.3), path(2, 5, 2, seed=73, scale=0.3)
    lam, other = o["dyadic_order"], o["y"] == "other"
    inputs = [x] + ([y] if other else []) + _static_inputs(o["static"])

    def call(*args):
        static = _static(o["static"], args)[0]
        second = args[1] if other else None
        extra = transform_options(o)
        if o["form"] == "module":
            return sigcg.SigKernel(lam, static, gram=True, **extra)(args[0], second)
        return sigcg.sig_kernel_gram(
            args[0], second, lam, static, return_grid=o["form"] == "grid", **extra
        )

    def reference(*args):
        _, kind, params = _static(o["static"], args)
        a = ref_transform(args[0], o)
        b = ref_transform(args[1], o) if other else a
        if o["form"] == "grid":
            grids = skref.sig_kernel(
                a.repeat_interleave(b.shape[0], 0),
                b.repeat(a.shape[0], 1, 1),
                lam,
                lam,
                kind,
                return_grid=True,
                **params,
            )
            return grids.view(a.shape[0], b.shape[0], *grids.shape[1:])
        return skref.gram_matrix(a, b, lam, lam, kind, **params)

    return tuple(inputs), call, reference


def _sig_mmd(o):
    import sigkernel_reference as skref

    x, y = path(3, 4, 2, seed=74, scale=0.3), path(2, 5, 2, seed=75, scale=0.3)
    lam = o["dyadic_order"]

    def call(*args):
        static = _static(o["static"], args)[0]
        extra = transform_options(o)
        if o["module"]:
            return sigcg.SigMMD(lam, static, o["unbiased"], **extra)(args[0], args[1])
        return sigcg.sig_mmd(args[0], args[1], lam, static, unbiased=o["unbiased"], **extra)

    def reference(*args):
        _, kind, params = _static(o["static"], args)
        a, b = ref_transform(args[0], o), ref_transform(args[1], o)
        return skref.mmd(a, b, *_orders(lam), kind, o["unbiased"], **params)

    return tuple([x, y] + _static_inputs(o["static"])), call, reference


def _sig_score(o):
    import sigkernel_reference as skref

    sample, y = path(3, 4, 2, seed=76, scale=0.3), path(2, 5, 2, seed=77, scale=0.3)
    lam = o["dyadic_order"]
    single = o["y"] == "single"

    def call(*args):
        static = _static(o["static"], args)[0]
        obs = args[1][0] if single else args[1]
        return sigcg.sig_score(args[0], obs, o["lam"], lam, static, **transform_options(o))

    def reference(*args):
        _, kind, params = _static(o["static"], args)
        obs = ref_transform(args[1][:1] if single else args[1], o)
        return skref.score(ref_transform(args[0], o), obs, o["lam"], *_orders(lam), kind, **params)

    return tuple([sample, y] + _static_inputs(o["static"])), call, reference


CASES += [
    Case(
        "sig_kernel",
        _sig_kernel,
        dict(
            static=("linear", "scaled_linear", "rbf", "matern32", "rational_quadratic"),
            dyadic_order=(0, 1, (1, 0)),
            form=("function", "grid", "module"),
            transform=tuple(TRANSFORMS),
            lengths=(False, True),
        ),
    ),
    Case(
        "sig_kernel_gram",
        _sig_kernel_gram,
        dict(
            y=("none", "other"),
            static=("linear", "rbf"),
            dyadic_order=(0, 1),
            form=("function", "grid", "module"),
            transform=tuple(TRANSFORMS),
        ),
    ),
    Case(
        "sig_mmd",
        _sig_mmd,
        dict(
            unbiased=(True, False),
            static=("linear", "rbf"),
            dyadic_order=(0, 1),
            module=(False, True),
            transform=tuple(TRANSFORMS),
        ),
    ),
    Case(
        "sig_score",
        _sig_score,
        dict(
            lam=(1.0, 0.5),
            y=("batch", "single"),
            static=("linear", "rbf"),
            dyadic_order=(0, 1),
            transform=tuple(TRANSFORMS),
        ),
    ),
]

COVERED_ELSEWHERE.update(
    {
        "SigKernel": "sig_kernel",
        "SigMMD": "sig_mmd",
        "LinearKernel": "sig_kernel",
        "ScaledLinearKernel": "sig_kernel",
        "RBFKernel": "sig_kernel",
        "Matern32Kernel": "sig_kernel",
        "RationalQuadraticKernel": "sig_kernel",
        "Matern12Kernel": "test_sigkernel.py",
        "Matern52Kernel": "test_sigkernel.py",
        "PolynomialKernel": "test_sigkernel.py",
        "StaticKernel": "test_sigkernel.py",
    }
)
