"""``detour mcp``: an MCP server over stdio whose tools ask the running daemon's index.

Relative paths are taken against the project root the agent started it in
(``--root``, default the working directory), which must be a registered
project (``detour context add``): the tools' errors say so otherwise.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from daemon.context.client import ContextClient, DaemonError

DEFAULT_BUDGET = 3000


def server(client: ContextClient) -> MCPServer:
    mcp = MCPServer(
        "detour",
        instructions=(
            "Pruned source context from detour's live index of this project: ask for a symbol "
            "or a file within a token budget instead of reading whole files."
        ),
    )

    @mcp.tool(structured_output=False)
    async def get_context(target: str, budget_tokens: int = DEFAULT_BUDGET) -> str:
        """The code of a file or symbol and what it uses, within a token budget.

        target: "path/to/file.py" or "path/to/file.py::Class.method" (relative to the project root).
        Returns the target in full with line numbers, its enclosing scopes, and the signatures
        and first docstring lines of what it calls, subclasses and annotates with."""
        return await _ask(client, "context", target, budget_tokens)

    @mcp.tool(structured_output=False)
    async def find_symbol(name: str) -> str:
        """Where a function, class, method or type is defined: "path:line kind qualified.name: signature"."""
        return await _ask(client, "find_symbol", name) or f"no definition named {name!r}"

    @mcp.tool(structured_output=False)
    async def outline(file: str) -> str:
        """Every definition in a file: signatures and first docstring lines, with line numbers."""
        return await _ask(client, "outline", file)

    return mcp


async def _ask(client: ContextClient, op: str, target: str, budget: int | None = None) -> str:
    try:
        answer = await client.ask(op, target, budget)
    except DaemonError as e:
        raise ToolError(str(e)) from None  # the agent sees an error result it can act on
    note = f"\n\n({answer['note']})" if answer.get("note") else ""
    return str(answer.get("text", "")) + note


async def run(client: ContextClient) -> None:
    await server(client).run_stdio_async()
