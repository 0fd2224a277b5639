"""Drive an MCP server over streamable HTTP with the official MCP Python SDK.

Usage: python mcp_client.py <url> <api_key> <json-steps>

<json-steps> is a JSON array; each step is {"list_tools": true} or
{"call": "<tool name>", "arguments": {...}}. The steps run in order in one
session (opened with the `initialize` handshake) and one JSON document is
printed to stdout:

    {"server": {"name", "version"}, "results": [...]}

A list_tools result is {"tools": [{"name", "description", "inputSchema"}]},
following pagination; a call result is
{"is_error": bool, "text": [str], "structured": structuredContent or null}.
A connection or protocol failure (including a JSON-RPC error answer) is
printed to stderr and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp import Client, MCPError
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

# HTTP error statuses seen during the run, reported on failure (the SDK folds them into generic errors).
http_errors: list[str] = []


async def note_http_error(response: Any) -> None:
    if response.status_code >= 400:
        http_errors.append(f"HTTP {response.status_code} on {response.request.method} {response.request.url}")


async def list_tools(client: Client) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return {"tools": tools}


async def call_tool(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    return {
        "is_error": result.is_error,
        "text": [c.text for c in result.content if c.type == "text"],
        "structured": result.structured_content,
    }


async def run(url: str, api_key: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with create_mcp_http_client(headers=headers) as http:
        http.event_hooks["response"].append(note_http_error)
        # "legacy" performs the initialize handshake without a server/discover probe;
        # cache=None makes every step reach the server.
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            info = client.server_info
            server = {"name": info.name, "version": info.version} if info else None
            results: list[dict[str, Any]] = []
            for step in steps:
                if step.get("list_tools"):
                    results.append(await list_tools(client))
                elif "call" in step:
                    results.append(await call_tool(client, step["call"], step.get("arguments") or {}))
                else:
                    raise ValueError(f"unknown step: {json.dumps(step)}")
            return {"server": server, "results": results}


def describe(exc: BaseException) -> str:
    # Task-group failures arrive wrapped; report the innermost errors.
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    if isinstance(exc, MCPError):
        return f"MCPError {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, api_key, steps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:
        output = asyncio.run(run(url, api_key, steps))
    except Exception as exc:
        print("\n".join([*http_errors, describe(exc)]), file=sys.stderr)
        return 1
    print(json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
