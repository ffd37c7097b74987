"""Plots of the reproduced figures (matplotlib, the optional extra ``[plot]``)."""
from __future__ import annotations

import math
import textwrap


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


STYLE = {  # method -> (colour, marker)
    "admm": ("#1f77b4", "o"), "admm (paper preset)": ("#17becf", "s"), "admm (layer-wise)": ("#e377c2", "*"),
    "sgd": ("#ff7f0e", "^"),
    "adam": ("#2ca02c", "v"), "cg": ("#d62728", "D"), "lbfgs": ("#9467bd", "P"),
    "admm-paper": ("#17becf", "s"), "logreg": ("#8c564b", "X"),  # admm-xp compare's names
}


def accuracy_vs_time(path: str, curves: dict, target: float | None, title: str, subtitle: str) -> None:
    """Figure 1b / 2b: test accuracy against wall time (log x), one curve per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.6), dpi=120)
    for label, pts in curves.items():
        pts = [(t, a) for t, a in pts if t and t > 0 and a is not None]
        if not pts:
            continue
        colour, marker = STYLE.get(label.split(" (")[0] if label not in STYLE else label, ("#7f7f7f", "."))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, color=colour, marker=marker,
                markersize=3, linewidth=1.4, markevery=max(1, len(pts) // 12))
    if target:
        shown = f"{target:.0%}" if round(target, 2) == target else f"{target:.4f}"  # 0.64 -> 64%, 0.9808 as is
        ax.axhline(target, color="black", linestyle=":", linewidth=1, label=f"target {shown}")
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, log scale; evaluation excluded)")
    ax.set_ylabel("test accuracy")
    ax.set_title(_title(title, subtitle), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def time_vs_cores(path: str, measured: list, models: list, references: list, title: str, subtitle: str,
                  paper_cores: int) -> None:
    """Figure 1a / 2a: time to the target against cores (log-log).

    ``measured``: (cores, seconds) points run on this machine; ``models``: (label, [(cores, seconds)], line style)
    curves of the scaling model, never drawn with markers so that they cannot pass for measurements;
    ``references``: (label, seconds, line style) horizontal lines for the baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
    for label, pts, style in models:
        pts = [(c, t) for c, t in pts if t]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=style, color="#1f77b4", linewidth=1.3, label=label)
    me = [(c, t) for c, t in measured if t]
    if me:
        ax.plot([p[0] for p in me], [p[1] for p in me], linestyle="none", marker="o", markersize=7, color="#1f77b4",
                label="ADMM, measured on this machine")
    for label, t, style in references:
        if t and t > 0:
            colour = STYLE.get(label.split(" ")[0].rstrip(","), ("#7f7f7f", "."))[0]
            ax.axhline(t, color=colour, linestyle=style, linewidth=1.1, label=label)
    ax.axvline(paper_cores, color="#999999", linestyle=":", linewidth=1, label=f"the paper's {paper_cores:,} cores")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("CPU cores (one MPI rank per core; log scale)")
    ax.set_ylabel("time to target test accuracy (s, log scale)")
    ax.set_title(_title(title, subtitle, width=90), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _title(title: str, subtitle: str, width: int = 95) -> str:
    """The title over a subtitle wrapped to the figure's width (long data and machine descriptions)."""
    return "\n".join([title, *textwrap.wrap(subtitle, width)])


def nice_seconds(t) -> str:
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "not reached"
    return f"{t:.3g} s" if t < 100 else f"{t / 60:.3g} min"
