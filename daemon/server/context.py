"""``POST /context``: pruned context for a file or symbol of an indexed project.

The MCP server (``detour mcp``) and ``detour context`` speak to this too, with
``op`` naming what they want: ``context`` (the default), ``outline`` or
``find_symbol``. Only registered projects are served: an unregistered root is
a 404 naming ``detour context add``, a root that names no path a 400. A file
whose parse failed (timed out) is served as text only, and ``note`` says so.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from daemon.context.extract import TargetNotFound
from daemon.context.projects import BadPath, Projects, UnknownProject
from daemon.ir import ApiError

PROJECTS = web.AppKey("projects", Projects)
DEFAULT_BUDGET = 3000
MAX_BUDGET = 200_000
routes = web.RouteTableDef()


@routes.post("/context")
async def context(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    projects = request.app[PROJECTS]
    root = body.get("root")
    target = body.get("target")
    op = body.get("op", "context")
    if root is not None and not isinstance(root, str):
        raise ApiError(400, "invalid_request", "root must be a path string")
    try:
        if op == "index" or (op == "context" and not target):
            index = await projects.get(root)
            out = {"text": f"indexed {index.root}: {len(index.files)} files", "tokens": 0, "files": []}
        elif op == "context":
            budget = body.get("budget_tokens", DEFAULT_BUDGET)
            if not isinstance(target, str) or isinstance(budget, bool) or not isinstance(budget, int):
                raise ApiError(
                    400, "invalid_request", 'target must be "path[::Symbol]", budget_tokens a number'
                )
            if not 50 <= budget <= MAX_BUDGET:
                raise ApiError(400, "invalid_request", f"budget_tokens must be 50 to {MAX_BUDGET}")
            found, note = await projects.context(root, target, budget)
            out = {"text": found.text, "tokens": found.tokens, "files": found.files}
            if note:
                out["note"] = f"{target.partition('::')[0]}: {note}"
        elif op in ("outline", "find_symbol"):
            if not isinstance(target, str) or not target:
                raise ApiError(400, "invalid_request", f"{op} needs a target: a file path or a symbol name")
            text = await (projects.outline if op == "outline" else projects.find_symbol)(root, target)
            out = {"text": text, "tokens": 0, "files": []}
        else:
            raise ApiError(400, "invalid_request", f"unknown op {op!r}: context, outline, find_symbol, index")
    except (TargetNotFound, UnknownProject) as e:
        raise ApiError(404, "not_found", str(e.args[0])) from None
    except BadPath as e:
        raise ApiError(400, "invalid_request", str(e)) from None
    return web.Response(body=orjson.dumps(out), content_type="application/json")


async def _body(request: web.Request) -> dict[str, object]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_request", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return body
