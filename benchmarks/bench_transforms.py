"""Transforms, windows, ragged batches and second derivatives: sigcg against its own baselines
and pySigLib on identical inputs, one process, one thread, medians, ratios.

    python benchmarks/bench_transforms.py [--quick] [--json out.json] [--only transforms,windows]

Sections (targets of the issue that asked for each, checked in the last column):
  transforms  signature(x, time_aug=True, lead_lag=True) (fused: the kernels read x) against the
              plain signature of the already-augmented path of the same size (<= 1.2x) and
              pySigLib's sig(..., time_aug=True, lead_lag=True) (>= 3x faster), forward and
              backward (backward: the gradient alone, the forward's graph retained).
  windows     signature(x, window=(size, stride)) against sigcg on each slice (>= 3x faster) and
              pySigLib's SigWindowStream (forward only: it has no backward).
  ragged      lengths uniform on [2, L] against the padded batch (<= 0.6x).
  hvp         a Hessian-vector product through signature (create_graph) against one forward +
              backward (<= 5x).
"""

from __future__ import annotations

import argparse
import functools
import json

import timing
import torch

import sigcg
from sigcg.api import windows as windows_api

# more repetitions than the signature benchmark's defaults: these ratios are the targets
median_time = functools.partial(timing.median_time, min_reps=5, max_reps=60)

TRANSFORM_SHAPES = [(32, 128, 4, 5, "float64"), (128, 256, 3, 4, "float32")]
WINDOW_SHAPES = [(32, 1000, 4, 4, 100, 10, "float64"), (32, 1000, 4, 4, 100, 10, "float32")]
RAGGED_SHAPES = [
    (128, 256, 4, 4, "float64", False),
    (256, 500, 3, 4, "float32", False),
    (32, 128, 4, 5, "float64", True),
]
HVP_SHAPES = [(32, 128, 4, 4, "float64"), (128, 64, 3, 4, "float64")]
# ... and with transforms (the time-augmented lead-lag path of the same points)
HVP_OPTIONS = [{}, {"time_aug": True, "lead_lag": True}]


def paths(batch, length, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(batch, length, d, generator=g, dtype=torch.float64) / length**0.5).cumsum(1)
    return x.to(getattr(torch, dtype))


def ms(t):
    return f"{t * 1e3:.3f}" if t < 0.01 else f"{t * 1e3:.2f}"


def grad_time(out, leaf, cot, budget):
    """The backward alone: the graph is kept between repetitions."""
    return median_time(lambda: torch.autograd.grad(out, leaf, cot, retain_graph=True), budget)


def transforms_section(budget, rows):
    import pysiglib

    print(
        "\n## transforms: time_aug + lead_lag (ms; backward = the gradient alone)\n"
        "| shape (B,L,d,N) | sigcg fused fwd / bwd | plain sig of augmented path fwd / bwd | "
        "torch-op route fwd | pySigLib fwd / bwd | fused / plain (<= 1.2) | "
        "pySigLib / fused (>= 3) |\n|" + "---|" * 7
    )
    for B, L, d, N, dtype in TRANSFORM_SHAPES:
        x = paths(B, L, d, dtype)
        x_np = x.numpy().copy()
        aug = pysiglib.transform_path(x_np, time_aug=True, lead_lag=True)
        aug_t = torch.from_numpy(aug.copy())
        kw = dict(time_aug=True, lead_lag=True)
        fused = median_time(lambda: sigcg.signature(x, N, **kw), budget)
        plain = median_time(lambda: sigcg.signature(aug_t, N), budget)
        step = torch.full((B,), 1.0 / (2 * L - 2), dtype=x.dtype)
        route = median_time(
            lambda: sigcg.ops.signature(
                sigcg.ops.transforms.augment(x, True, step).contiguous(), None, N, False
            ),
            budget,
        )
        ps_fwd = median_time(lambda: pysiglib.sig(x_np, N, **kw), budget)
        xg, ag = x.clone().requires_grad_(), aug_t.clone().requires_grad_()
        out, out_plain = sigcg.signature(xg, N, **kw), sigcg.signature(ag, N)
        cot = torch.randn_like(out)
        fused_b, plain_b = grad_time(out, xg, cot, budget), grad_time(out_plain, ag, cot, budget)
        sig_np, cot_np = out.detach().numpy().copy(), cot.numpy().copy()
        ps_bwd = median_time(
            lambda: pysiglib.sig_backprop(x_np, sig_np, cot_np, N, **kw), budget, min_reps=3
        )
        r = dict(
            shape=[B, L, d, N, dtype],
            fused=(fused, fused_b),
            plain=(plain, plain_b),
            route=route,
            pysiglib=(ps_fwd, ps_bwd),
        )
        rows.setdefault("transforms", []).append(r)
        print(
            f"| {B},{L},{d},{N},{dtype} | {ms(fused)} / {ms(fused_b)} | {ms(plain)} / "
            f"{ms(plain_b)} | {ms(route)} | {ms(ps_fwd)} / {ms(ps_bwd)} | "
            f"{fused / plain:.2f} / {fused_b / plain_b:.2f} | "
            f"{ps_fwd / fused:.1f}x / {ps_bwd / fused_b:.1f}x |",
            flush=True,
        )


def windows_section(budget, rows):
    import pysiglib

    print(
        "\n## windows: window=(size, stride) (ms)\n"
        "| shape (B,L,d,N,size,stride) | sigcg windows fwd / fwd+bwd | sigcg per slice fwd / "
        "fwd+bwd | sigcg one batch of slices fwd | pySigLib SigWindowStream fwd | "
        "per slice / windows (>= 3) | pySigLib / windows |\n|" + "---|" * 7
    )
    for B, L, d, N, size, stride, dtype in WINDOW_SHAPES:
        x = paths(B, L, d, dtype)
        x_np = x.numpy().copy()
        starts = list(range(0, L - size + 1, stride))
        table = torch.tensor([[s, s + size] for s in starts])
        ours = median_time(lambda: sigcg.signature(x, N, window=(size, stride)), budget)
        each = median_time(lambda: [sigcg.signature(x[:, s : s + size], N) for s in starts], budget)
        batch = median_time(lambda: windows_api._by_slices(x, N, table[:, 0], size), budget)

        def stream():
            ws = pysiglib.SigWindowStream(d, N, size, stride=stride)
            ws.push_batch(x_np)
            return ws.sig()

        theirs = median_time(stream, budget, min_reps=3)
        xg = x.clone().requires_grad_()
        cot = torch.randn(B, len(starts), sigcg.signature_channels(d, N), dtype=x.dtype)
        ours_b = median_time(
            lambda: torch.autograd.grad(sigcg.signature(xg, N, window=(size, stride)), xg, cot),
            budget,
        )
        each_b = median_time(
            lambda: torch.autograd.grad(
                torch.stack([sigcg.signature(xg[:, s : s + size], N) for s in starts], 1), xg, cot
            ),
            budget,
        )
        rows.setdefault("windows", []).append(
            dict(
                shape=[B, L, d, N, size, stride, dtype],
                windows=(ours, ours_b),
                per_slice=(each, each_b),
                batch_of_slices=batch,
                pysiglib=theirs,
            )
        )
        print(
            f"| {B},{L},{d},{N},{size},{stride},{dtype} | {ms(ours)} / {ms(ours_b)} | "
            f"{ms(each)} / {ms(each_b)} | {ms(batch)} | {ms(theirs)} | "
            f"{each / ours:.1f}x / {each_b / ours_b:.1f}x | {theirs / ours:.1f}x |",
            flush=True,
        )


def ragged_section(budget, rows):
    print(
        "\n## ragged batches: lengths uniform on [2, L] against the padded batch (ms)\n"
        "| shape (B,L,d,N) | transforms | padded fwd / bwd | ragged fwd / bwd | "
        "ragged / padded (<= 0.6) |\n|" + "---|" * 5
    )
    for B, L, d, N, dtype, transformed in RAGGED_SHAPES:
        x = paths(B, L, d, dtype)
        g = torch.Generator().manual_seed(1)
        lengths = torch.randint(2, L + 1, (B,), generator=g)
        kw = dict(time_aug=True, lead_lag=True) if transformed else {}
        padded = median_time(lambda: sigcg.signature(x, N, **kw), budget)
        ragged = median_time(lambda: sigcg.signature(x, N, lengths=lengths, **kw), budget)
        xg = x.clone().requires_grad_()
        out_p = sigcg.signature(xg, N, **kw)
        out_r = sigcg.signature(xg, N, lengths=lengths, **kw)
        cot = torch.randn_like(out_p)
        padded_b, ragged_b = grad_time(out_p, xg, cot, budget), grad_time(out_r, xg, cot, budget)
        rows.setdefault("ragged", []).append(
            dict(
                shape=[B, L, d, N, dtype],
                transforms=transformed,
                padded=(padded, padded_b),
                ragged=(ragged, ragged_b),
            )
        )
        print(
            f"| {B},{L},{d},{N},{dtype} | {'time+lead-lag' if transformed else 'none'} | "
            f"{ms(padded)} / {ms(padded_b)} | {ms(ragged)} / {ms(ragged_b)} | "
            f"{ragged / padded:.2f} / {ragged_b / padded_b:.2f} |",
            flush=True,
        )


def hvp_section(budget, rows):
    print(
        "\n## Hessian-vector product through signature (create_graph) against forward + "
        "backward (ms)\n| shape (B,L,d,N) | transforms | fwd + bwd | HVP | HVP / (fwd + bwd) "
        "(<= 5) |\n|" + "---|" * 5
    )
    for B, L, d, N, dtype in HVP_SHAPES:
        for options in HVP_OPTIONS:
            x = paths(B, L, d, dtype).requires_grad_()
            out = sigcg.signature(x.detach(), N, **options)
            weights = torch.randn(out.shape, dtype=x.dtype)
            v = torch.randn_like(x)

            def first(x=x, weights=weights, options=options):
                return torch.autograd.grad((sigcg.signature(x, N, **options) * weights).sum(), x)

            def hvp(x=x, weights=weights, options=options, v=v):
                loss = (sigcg.signature(x, N, **options) * weights).sum()
                (g,) = torch.autograd.grad(loss, x, create_graph=True)
                return torch.autograd.grad((g * v).sum(), x)

            one = median_time(first, budget)
            two = median_time(hvp, budget, min_reps=3)
            label = "time+lead-lag" if options else "none"
            rows.setdefault("hvp", []).append(
                dict(shape=[B, L, d, N, dtype], transforms=label, fwd_bwd=one, hvp=two)
            )
            print(
                f"| {B},{L},{d},{N},{dtype} | {label} | {ms(one)} | {ms(two)} | {two / one:.1f}x |",
                flush=True,
            )


SECTIONS = {
    "transforms": transforms_section,
    "windows": windows_section,
    "ragged": ragged_section,
    "hvp": hvp_section,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter timing budget")
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--json", help="also write the raw numbers (seconds) here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sigcg.set_num_threads(1)
    budget = 0.3 if args.quick else 1.5
    rows: dict = {}
    print("# single thread; medians; pySigLib", __import__("pysiglib").__version__)
    for name in args.only.split(",") if args.only else SECTIONS:
        SECTIONS[name](budget, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
