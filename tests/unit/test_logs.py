"""Log lines carry the role, and the zone and generation bound by the loop at work."""

import asyncio
import json
import logging

from planguard import logs


def _record(msg: str) -> logging.LogRecord:
    rec = logging.LogRecord("planguard.x", logging.WARNING, __file__, 1, msg, (), None)
    logs.ContextFilter().filter(rec)
    return rec


def test_fields_bound_in_one_task_stay_in_that_task_and_its_threads():
    logs._process["role"] = "enactor-a"
    seen: dict[str, dict] = {}

    def reconcile(name: str) -> None:
        logs.bind(generation=7 if name == "web" else 3)
        seen[name] = json.loads(logs.JsonFormatter().format(_record("applied")))

    async def worker(name: str) -> None:
        logs.bind(zone=f"ns/{name}")
        await asyncio.to_thread(reconcile, name)

    async def main() -> None:
        await asyncio.gather(worker("web"), worker("api"))

    asyncio.run(main())
    assert seen["web"]["zone"] == "ns/web" and seen["web"]["generation"] == 7
    assert seen["api"]["zone"] == "ns/api" and seen["api"]["generation"] == 3
    assert seen["web"]["role"] == "enactor-a"
    assert "zone" not in _record("outside").planguard  # nothing leaked into this context


def test_text_lines_end_with_the_fields_and_extra_wins():
    logs._process["role"] = "cleanup"
    with logs.bound(zone="ns/web"):
        rec = logging.LogRecord("p", logging.INFO, __file__, 1, "deleted", (), None)
        rec.planguard = {"generation": 4}
        logs.ContextFilter().filter(rec)
    line = logs.TextFormatter().format(rec)
    assert line.endswith("deleted [role=cleanup zone=ns/web generation=4]"), line
