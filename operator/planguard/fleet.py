"""`planguard agent` (a node's check-in endpoint) and `planguard fleet` (thousands of
virtual nodes' agents in one process on loopback, with controllable latency, failures and
outages, plus their Node objects on the API server).

Control the fleet with POST /control and a JSON body, e.g.
  {"outage": true}                      every check-in fails (the dependency is down)
  {"latency": 0.05}                     seconds added to every check-in
  {"down": ["node-3"], "up": ["node-1"]} single agents stop or come back
  {"zone_down": "zone-a"}               every agent of a zone stops
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from planguard.core.contract import AGENT_ANNOTATION, FLEET_LABEL, MANAGED_LABEL, ZONE_LABEL


@dataclass
class FleetState:
    nodes: dict[str, str] = field(default_factory=dict)  # name -> zone
    down: set[str] = field(default_factory=set)
    outage: bool = False
    latency: float = 0.0
    checkins: int = 0

    def control(self, body: dict[str, Any]) -> None:
        if "outage" in body:
            self.outage = bool(body["outage"])
        if "latency" in body:
            self.latency = float(body["latency"])
        self.down |= set(body.get("down") or ())
        self.down -= set(body.get("up") or ())
        if body.get("zone_down"):
            self.down |= {n for n, z in self.nodes.items() if z == body["zone_down"]}
        if body.get("zone_up"):
            self.down -= {n for n, z in self.nodes.items() if z == body["zone_up"]}


def app(state: FleetState) -> web.Application:
    async def checkin(req: web.Request) -> web.Response:
        name = req.match_info["node"]
        if state.latency:
            await asyncio.sleep(state.latency)
        if name not in state.nodes:
            return web.json_response({"error": "unknown node"}, status=404)
        if state.outage or name in state.down:
            return web.json_response({"error": "unavailable"}, status=503)
        state.checkins += 1
        return web.json_response({"node": name, "state": "ok"})

    async def control(req: web.Request) -> web.Response:
        state.control(await req.json())
        return web.json_response({"outage": state.outage, "latency": state.latency,
                                  "down": sorted(state.down), "checkins": state.checkins})

    a = web.Application()
    a.router.add_get("/nodes/{node}/checkin", checkin)
    a.router.add_post("/control", control)
    return a


def node_objects(prefix: str, count: int, zones: int, url: str) -> list[dict[str, Any]]:
    return [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"{prefix}{i}",
                     "labels": {MANAGED_LABEL: "true", FLEET_LABEL: prefix.rstrip("-"),
                                ZONE_LABEL: f"zone-{chr(97 + i % zones)}"},
                     "annotations": {AGENT_ANNOTATION: f"{url}/nodes/{prefix}{i}/checkin"}},
    } for i in range(count)]


def serve_fleet(host: str, port: int, prefix: str, count: int, zones: int,
                kubeconfig: str | None) -> None:
    from planguard.kube import rest
    from planguard.kube.api import connect

    url = f"http://{host}:{port}"
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
    web.run_app(app(state), host=host, port=port, print=None)


def serve_agent(host: str, port: int, node: str) -> None:
    state = FleetState(nodes={node: ""})
    web.run_app(app(state), host=host, port=port, print=None)
