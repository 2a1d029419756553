"""`planguard fleet`: thousands of virtual nodes' agents in one process on loopback, with
controllable latency, failures and outages, plus their Node objects on the API server. A
simulator for tests, benchmarks and the demo, never deployed: it listens on loopback only.

Its agents answer check-ins as `planguard agent` does (the proof with the check-in key,
core/nodelease/checkin.py). Control it with POST /control and a JSON body, e.g.
  {"outage": true}                      every check-in fails (the dependency is down)
  {"latency": 0.05}                     seconds added to every check-in
  {"down": ["node-3"], "up": ["node-1"]} single agents stop or come back
  {"zone_down": "zone-a"}               every agent of a zone stops
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from planguard.agent import checkin_response
from planguard.core.contract import AGENT_ANNOTATION, FLEET_LABEL, MANAGED_LABEL, ZONE_LABEL

MAX_LATENCY = 60.0  # seconds: longer than any check-in timeout, short of a wedged handler


def loopback_only(host: str) -> str:
    """`host` if it is a loopback IP literal; the simulator's control port must never be
    reachable from another machine or pod."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"planguard fleet listens on loopback only (127.0.0.1, ::1), not {host!r}")


def _names(body: dict[str, Any], key: str) -> set[str]:
    v = body.get(key)
    if v is None:
        return set()
    if not isinstance(v, list) or not all(isinstance(n, str) for n in v):
        raise ValueError(f"{key}: a list of node names")
    return set(v)


def _zone(body: dict[str, Any], key: str) -> str:
    v = body.get(key) or ""
    if not isinstance(v, str):
        raise ValueError(f"{key}: a zone name")
    return v


@dataclass
class FleetState:
    nodes: dict[str, str] = field(default_factory=dict)  # name -> zone
    down: set[str] = field(default_factory=set)
    outage: bool = False
    latency: float = 0.0
    checkins: int = 0

    def control(self, body: object) -> None:
        """Applies a control body, or raises ValueError and changes nothing."""
        if not isinstance(body, dict):
            raise ValueError("a JSON object")
        unknown = set(body) - {"outage", "latency", "down", "up", "zone_down", "zone_up"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        outage = body.get("outage", self.outage)
        if not isinstance(outage, bool):
            raise ValueError("outage: true or false")
        latency = body.get("latency", self.latency)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or \
                not math.isfinite(latency) or not 0 <= latency <= MAX_LATENCY:
            raise ValueError(f"latency: seconds from 0 to {MAX_LATENCY:g}")
        down, up = _names(body, "down"), _names(body, "up")
        zone_down, zone_up = _zone(body, "zone_down"), _zone(body, "zone_up")
        self.outage, self.latency = outage, float(latency)
        self.down = (self.down | down) - up
        if zone_down:
            self.down |= {n for n, z in self.nodes.items() if z == zone_down}
        if zone_up:
            self.down -= {n for n, z in self.nodes.items() if z == zone_up}


def app(state: FleetState, key: Callable[[], bytes]) -> web.Application:
    async def checkin(req: web.Request) -> web.Response:
        name = req.match_info["node"]
        if state.latency:
            await asyncio.sleep(state.latency)
        if name not in state.nodes:
            return web.json_response({"error": "unknown node"}, status=404)
        if state.outage or name in state.down:
            return web.json_response({"error": "unavailable"}, status=503)
        state.checkins += 1
        return checkin_response(key, name, req)

    async def control(req: web.Request) -> web.Response:
        try:
            state.control(json.loads(await req.read(), parse_constant=_no_constant))
        except ValueError as e:  # JSONDecodeError included
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"outage": state.outage, "latency": state.latency,
                                  "down": sorted(state.down), "checkins": state.checkins})

    a = web.Application(client_max_size=1 << 20)
    a.router.add_get("/nodes/{node}/checkin", checkin)
    a.router.add_post("/control", control)
    return a


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # Python's json takes NaN and Infinity


def node_objects(prefix: str, count: int, zones: int, url: str) -> list[dict[str, Any]]:
    return [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"{prefix}{i}",
                     "labels": {MANAGED_LABEL: "true", FLEET_LABEL: prefix.rstrip("-"),
                                ZONE_LABEL: f"zone-{chr(97 + i % zones)}"},
                     "annotations": {AGENT_ANNOTATION: f"{url}/nodes/{prefix}{i}/checkin"}},
    } for i in range(count)]


def serve_fleet(host: str, port: int, prefix: str, count: int, zones: int,
                kubeconfig: str | None, key: Callable[[], bytes]) -> None:
    from planguard.kube import rest
    from planguard.kube.api import connect

    host = loopback_only(host)
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    objs = node_objects(prefix, count, zones, url)
    state = FleetState(nodes={o["metadata"]["name"]: o["metadata"]["labels"][ZONE_LABEL]
                              for o in objs})
    client = connect(kubeconfig)
    for o in objs:
        try:
            client.request("POST", rest.path("v1", "nodes"), body=o)
        except rest.ApiError as e:
            if e.status != 409:
                raise
    print(json.dumps({"fleet": url, "nodes": count, "zones": zones}), flush=True)
    web.run_app(app(state, key), host=host, port=port, print=None)
