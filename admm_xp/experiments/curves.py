"""Accuracy-against-time curves of run records: times to a target, summaries, the plot and its subtitle.

``admm-xp compare`` draws compare.png and its table with these, and ``admm-xp reproduce`` figures 1b
and 2b (:mod:`admm_xp.experiments.compare`, :mod:`admm_xp.experiments.reproduce`).
"""
from __future__ import annotations

import math

THIN_PER_DECADE = 40  # a run record keeps this many evaluations per decade of time, and every new best


def curves(records: dict) -> dict:
    """``{label: [(time_s, test_acc), ...]}`` of run records ``{label: record}``: every evaluated entry."""
    return {label: [(h.get("time_s"), h.get("test_acc")) for h in rec.get("history", []) if h.get("test_acc") is not None]
            for label, rec in records.items()}


def time_to(points, target) -> float | None:
    """Training seconds to the first point whose accuracy is at least ``target`` (None: never)."""
    if target is None:
        return None
    return next((t for t, a in points if a is not None and a >= target), None)


def thin(history: list, per_decade: int = THIN_PER_DECADE) -> list:
    """The entries of a long run's history that its curve and times to a target need: the first and last,
    every evaluation that beats all earlier ones (so the first time any accuracy was reached is kept
    exactly), and at most ``per_decade`` more per decade of training time (the shape on a log axis)."""
    kept, best, last_bin = [], -1.0, None
    for i, h in enumerate(history):
        acc, t = h.get("test_acc"), h.get("time_s") or 0.0
        b = math.floor(per_decade * math.log10(t)) if t > 0 else None
        if i in (0, len(history) - 1) or (acc is not None and acc > best) or (acc is not None and b != last_bin):
            kept.append(h)
            last_bin = b
        if acc is not None:
            best = max(best, acc)
    return kept


def summarise(points, target) -> dict:
    """Best and final accuracy, training time and time to ``target`` of one curve."""
    accs = [a for _, a in points if a is not None]
    return {"best_test_acc": max(accs) if accs else None, "final_test_acc": accs[-1] if accs else None,
            "train_s": points[-1][0] if points else None, "time_to_target_s": time_to(points, target)}


def subtitle(rec: dict, data: str | None = None, synthetic: bool = False) -> str:
    """What a plot's subtitle says of its runs: data set and sizes, machine, device, ranks and commit."""
    m = rec.get("machine", {})
    gpu = m.get("gpu", {}).get("name") if isinstance(m.get("gpu"), dict) else None
    device = f"{rec.get('device')} ({gpu})" if gpu else f"{rec.get('backend')}"
    ranks = rec.get("ranks") or 1
    return (f"{'SYNTHETIC stand-in: ' if synthetic else ''}{data or rec.get('dataset')}, {rec.get('n_train') or 0:,} train / "
            f"{rec.get('n_test') or 0:,} test; {m.get('cpu', '?')} ({m.get('cores', '?')} cores), {device} {rec.get('dtype')}"
            f"{f', {ranks} MPI ranks' if ranks > 1 else ''}, commit {short_commit(rec.get('commit'))}")


def short_commit(commit) -> str:
    """A record's commit in ten hex digits, keeping its ``-dirty`` mark (uncommitted changes in the tree)."""
    text = str(commit or "?")
    return text[:10] + ("-dirty" if text.endswith("-dirty") else "")


def plot_curves(path: str, runs: dict, target: float | None, title: str, sub: str) -> bool:
    """Test accuracy against training time (log x) of the curves ``runs`` (see :func:`curves`), one line per
    method, the target as a dotted line; False (nothing written) without matplotlib."""
    from . import figures

    if not figures.have_matplotlib():
        return False
    figures.accuracy_vs_time(path, runs, target, title, sub)
    return True
