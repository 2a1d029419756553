"""bench/common.py's pure parts: `--quick` arguments and the one "served yet" predicate."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import common


def _parse(monkeypatch: pytest.MonkeyPatch, *argv: str) -> argparse.Namespace:
    monkeypatch.setattr(sys, "argv", ["bench", *argv])
    monkeypatch.delenv("PLANGUARD_BENCH_RESULTS", raising=False)
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=25000)
    ap.add_argument("--rounds", type=int, default=8)
    return common.arguments(ap, endpoints=20, rounds=2)


def test_quick_sizes_apply_only_with_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    args = _parse(monkeypatch)
    assert (args.quick, args.endpoints, args.rounds) == (False, 25000, 8)
    assert "PLANGUARD_BENCH_RESULTS" not in os.environ
    args = _parse(monkeypatch, "--quick")
    assert (args.quick, args.endpoints, args.rounds) == (True, 20, 2)


def test_an_explicit_flag_wins_over_the_quick_size(monkeypatch: pytest.MonkeyPatch) -> None:
    args = _parse(monkeypatch, "--quick", "--endpoints", "7")
    assert (args.endpoints, args.rounds) == (7, 2)


def test_a_quick_result_never_lands_in_bench_results(monkeypatch: pytest.MonkeyPatch) -> None:
    _parse(monkeypatch, "--quick")
    path = common.write_result("x", {"a": 1})
    assert common.REPO / "bench" / "results" not in path.parents
    path.unlink()


class Server:
    def __init__(self, answer: list[str], generation: int | None) -> None:
        self.answer, self.gen = answer, generation

    def query(self, name: str, rdtype: str = "A") -> list[str]:
        return self.answer

    def generation(self, zone: str, endpoint: str | None = None) -> int | None:
        return self.gen


@pytest.mark.parametrize(("answer", "gen", "want_gen", "weighted", "served"), [
    (["10.0.0.1", "10.0.0.2"], 2, 2, False, True),  # the plan's order does not matter
    (["10.0.0.1", "10.0.0.2"], 1, 2, False, False),  # new addresses, old marker: not yet
    (["10.0.0.1", "10.0.0.2"], 1, None, False, True),  # no generation asked
    (["10.0.0.1"], 2, 2, False, False),  # part of the set
    (["10.0.0.2"], 2, 2, True, True),  # weighted: one of them per answer
    (["10.0.0.9"], 2, 2, True, False),
    ([], 2, 2, True, False),
])
def test_served(answer: list[str], gen: int, want_gen: int | None, weighted: bool,
                served: bool) -> None:
    got = common.served(Server(answer, gen), "z.test", "api", ["10.0.0.2", "10.0.0.1"],  # type: ignore[arg-type]
                        want_gen, weighted=weighted)
    assert got is served
