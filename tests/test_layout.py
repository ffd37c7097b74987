"""The package layout: no import cycle among the modules of admm_xp and baselines.

The order of the layers is pyproject.toml's import-linter contract (``lint-imports``, run by
scripts/test.sh); this test finds cycles, which that contract would only report as broken layers.
Function-level (lazy) imports count: a cycle through one is still a cycle in the design.
"""
from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")


def import_cycles(graph) -> list[tuple[str, str]]:
    """Each import ``(a, b)`` (a imports b) through which some chain leads from b back to a; empty when the
    graph has no cycle (every cycle passes through such an import, so this misses none)."""
    found = []
    for a in sorted(graph.modules):
        for b in sorted(graph.find_modules_directly_imported_by(a)):
            if a == b or graph.chain_exists(importer=b, imported=a):
                found.append((a, b))
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert import_cycles(graph) == []
    graph.add_import(importer="p.d", imported="p.b")  # p.b -> p.c -> p.d -> p.b
    assert import_cycles(graph) == [("p.b", "p.c"), ("p.c", "p.d"), ("p.d", "p.b")]


def test_no_import_cycle_among_the_modules_of_admm_xp_and_baselines():
    graph = grimp.build_graph("admm_xp", "baselines")
    modules = graph.modules
    assert len(modules) > 50 and {"admm_xp.solver.iteration", "baselines.cli", "admm_xp.cli.main"} <= modules
    assert graph.chain_exists(importer="admm_xp.cli.main", imported="admm_xp.solver.iteration")  # the graph is real
    assert import_cycles(graph) == []
