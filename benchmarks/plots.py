"""PNG plots for the benchmark results (matplotlib, Agg backend: no display needed).

time_vs_channels_depth.png   forward and backward time against depth, one panel per channel
                             count, one line per library
speedup.png                  sigcg's speed-up over each peer on the reference grid
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "sigcg": dict(color="#1f77b4", marker="o"),
    "pysiglib": dict(color="#ff7f0e", marker="s"),
    "signatory": dict(color="#2ca02c", marker="^"),
    "iisignature": dict(color="#d62728", marker="v"),
}


def plot_sweep(rows: list[dict], libraries: list[str], path: Path, title: str) -> Path:
    """``rows``: dicts with d, N and "<library>_fwd"/"<library>_bwd" seconds (missing: not
    measured).  One panel per d: time (ms, log scale) against depth, forward solid, backward
    dashed."""
    ds = sorted({r["d"] for r in rows})
    cols = min(len(ds), 2)
    nrows = -(-len(ds) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6 * cols, 4 * nrows), squeeze=False)
    for ax, d in zip(axes.flat, ds):
        mine = sorted((r for r in rows if r["d"] == d), key=lambda r: r["N"])
        for lib in libraries:
            for kind, ls in (("fwd", "-"), ("bwd", "--")):
                pts = [(r["N"], r[f"{lib}_{kind}"] * 1e3) for r in mine if f"{lib}_{kind}" in r]
                if pts:
                    ax.plot(
                        *zip(*pts),
                        linestyle=ls,
                        label=f"{lib} {'forward' if kind == 'fwd' else 'backward'}",
                        **STYLE.get(lib, {}),
                    )
        ax.set_yscale("log")
        ax.set_xlabel("depth N")
        ax.set_ylabel("time (ms)")
        ax.set_title(f"d = {d} channels")
        ax.set_xticks(sorted({r["N"] for r in mine}))
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(ds) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_speedup(rows: list[dict], peers: list[str], path: Path, title: str) -> Path:
    """``rows``: dicts with "shape" and "<library>_fwd"/"<library>_bwd" seconds.  Grouped bars:
    sigcg's speed-up over each peer (peer time / sigcg time, log scale), forward and backward."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    width = 0.8 / max(len(peers), 1)
    for ax, kind in zip(axes, ("fwd", "bwd")):
        for i, peer in enumerate(peers):
            xs, ys = [], []
            for j, r in enumerate(rows):
                if f"{peer}_{kind}" in r and r.get(f"sigcg_{kind}"):
                    xs.append(j + (i - (len(peers) - 1) / 2) * width)
                    ys.append(r[f"{peer}_{kind}"] / r[f"sigcg_{kind}"])
            ax.bar(xs, ys, width, label=f"vs {peer}", color=STYLE.get(peer, {}).get("color"))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r["shape"] for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set_title("forward" if kind == "fwd" else "backward")
        ax.set_ylabel("speed-up of sigcg (x)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(peers), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
