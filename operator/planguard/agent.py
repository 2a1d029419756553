"""`planguard agent`: a node's check-in endpoint, and nothing else.

GET /nodes/NAME/checkin?nonce=HEX answers, for this node only, the proof that the agent
holds the check-in key (core/nodelease/checkin.py). No other route, no state to change: whoever
reaches the port (any pod, since it is on the host network) can at most ask for proofs of
this node's liveness, which is what the port is for.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from planguard.core.nodelease import checkin


def checkin_response(key: Callable[[], bytes], node: str, req: web.Request) -> web.Response:
    """The check-in answer of `node`'s agent (shared with `planguard fleet`)."""
    if req.match_info["node"] != node:
        return web.json_response({"error": "not this node"}, status=404)
    nonce = req.query.get("nonce", "")
    if not checkin.nonce_ok(nonce):
        return web.json_response({"error": "a hex nonce is required"}, status=400)
    return web.json_response({"node": node, "proof": checkin.proof(key(), node, nonce)})


def app(node: str, key: Callable[[], bytes]) -> web.Application:
    async def handle(req: web.Request) -> web.Response:
        return checkin_response(key, node, req)

    a = web.Application(client_max_size=4096)
    a.router.add_get("/nodes/{node}/checkin", handle)
    return a


def serve(host: str, port: int, node: str, key: Callable[[], bytes]) -> None:
    web.run_app(app(node, key), host=host, port=port, print=None)
