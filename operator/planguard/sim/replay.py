"""`planguard replay SCENARIO`: a scenario, step by step, under each protocol, with a
readable timeline of what a client resolving the watched endpoint would have got."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from planguard.core.dnsplan.model import Endpoint, Plan, Target
from planguard.sim.explore import user_deletes
from planguard.sim.invariants import newest_applies, state_violations, transition_violations
from planguard.sim.protocols import PROTOCOLS, Protocol_
from planguard.sim.world import Enactor, World

SCENARIOS = Path(__file__).parent / "scenarios"


@dataclass
class Outcome:
    protocol: str
    lines: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    empty_at: str | None = None
    final: str = ""

    @property
    def safe(self) -> bool:
        return not self.violations


def load(path_or_name: str) -> dict[str, Any]:
    p = Path(path_or_name)
    if not p.exists():
        p = SCENARIOS / f"{path_or_name}.yaml"
    data: dict[str, Any] = yaml.safe_load(p.read_text())
    return data


def _plans(sc: dict[str, Any]) -> dict[int, Plan]:
    names = sc["endpoints"]
    return {g: Plan(f"plan-{g}", "z", g, tuple(
        Endpoint(n, 60, (Target(f"10.{i}.{g}.1"), Target(f"10.{i}.{g}.2")))
        for i, n in enumerate(names))) for g in range(1, int(sc["generations"]) + 1)}


def _answer(w: World, name: str) -> str:
    st = w.dns.endpoint(name)
    if st.marker is None and st.empty:
        return "NXDOMAIN"
    addrs = " ".join(sorted(st.a | st.aaaa)) or "EMPTY (no address!)"
    return f"{addrs} (plan {st.generation})"


def run(sc: dict[str, Any], proto: Protocol_) -> Outcome:
    w = World(plans=_plans(sc), enactors=tuple(Enactor(n) for n in sc["enactors"]))
    out = Outcome(proto.name)
    watch, keep = sc.get("watch", sc["endpoints"][0]), int(sc.get("keep", 1))
    for step in sc["steps"]:
        who, _, verb = str(step["do"]).partition(".")
        before = w
        msgs: list[str] = []
        if who == "planner":
            w = replace(w, published=w.published + 1)
            msgs.append(f"created plan {w.published}")
        elif who in ("user", "api"):  # `kubectl delete` of a plan, and its removal
            w, m = _withdrawal(w, f"{who}.{verb}", _generation(step))
            msgs.append(m)
        elif verb == "cleanup":
            w, m = proto.cleanup(w, who, keep)
            msgs.append(m)
        elif verb in ("read", "apply"):
            w, m = proto.read(w, who)
            msgs.append(m)
        elif verb == "reuse":  # decide from its cached snapshot, without a transfer
            w, m = proto.reuse(w, who)
            msgs.append(m)
        if verb == "send":
            w, m = proto.send(w, who)
            msgs.append(m)
        elif verb in ("send-all", "apply"):
            for _ in range(1000):
                if not w.enactor(who).pending:
                    break
                w, m = proto.send(w, who)
                msgs.append(m)
        bad = transition_violations(before, w) + state_violations(w)
        new_bad = [b for b in bad if b not in out.violations]
        out.violations += new_bad
        answer = _answer(w, watch)
        if "EMPTY" in answer and out.empty_at is None:
            out.empty_at = str(step["at"])
        out.lines.append(f"{step['at']}  {who + ('.' + verb if verb else ''):<12} "
                         f"{step.get('note', '')}")
        for m in msgs:
            out.lines.append(f"{'':>24}{m}")
        out.lines.append(f"{'':>24}{watch} -> {answer}")
        for b in new_bad:
            out.lines.append(f"{'':>24}!! {b}")
    stuck = newest_applies(w, proto)
    if stuck:
        out.violations.append(stuck)
    out.final = stuck or f"converged: {watch} -> {_answer(w, watch)}"
    return out


def _generation(step: dict[str, Any]) -> int:
    """The `plan:` a user or API step names: a generation, or a clear error."""
    g = step.get("plan")
    if isinstance(g, bool) or not isinstance(g, int) or g < 1:
        raise ValueError(f"step {step.get('at')!r} ({step.get('do')}): `plan` must be a "
                         f"generation (a whole number from 1), not {g!r}")
    return g


def _withdrawal(w: World, action: str, g: int) -> tuple[World, str]:
    if action not in ("user.delete", "api.remove"):
        raise ValueError(f"{action}: a user step is user.delete, an API step api.remove")
    if g not in w.existing():
        return w, f"plan {g} does not exist (not created yet, or gone): nothing to delete"
    if action == "user.delete":
        if g in w.withdrawn:
            return w, f"plan {g} is being deleted already"
        held = g == w.live_generation()
        return user_deletes(w, g), f"a user deleted plan {g}" + (
            ": the live-plan finalizer holds it" if held else "")
    if w.removable(g):
        return replace(w, deleted=w.deleted | {g}), f"the API server removed plan {g}"
    return w, f"plan {g} stays: not deleted, or the live-plan finalizer holds it"


def render(sc: dict[str, Any], outcomes: list[Outcome]) -> str:
    lines = [f"scenario {sc['name']}: {sc.get('description', '').strip()}", ""]
    for o in outcomes:
        lines.append(f"=== {o.protocol} protocol " + "=" * 50)
        lines += o.lines
        verdict = "SAFE" if o.safe else "UNSAFE"
        lines.append(f"--- {o.protocol}: {verdict}; end state: {o.final}")
        if o.empty_at:
            lines.append(f"--- first empty answer at {o.empty_at}")
        for v in o.violations:
            lines.append(f"--- violated: {v}")
        lines.append("")
    return "\n".join(lines)


def replay(path_or_name: str, protocols: list[str] | None = None) -> tuple[str, list[Outcome]]:
    sc = load(path_or_name)
    outs = [run(sc, PROTOCOLS[p]) for p in (protocols or ["naive", "planguard"])]
    return render(sc, outs), outs
