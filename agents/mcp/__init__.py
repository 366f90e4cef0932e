"""Gantry's MCP server (the official `mcp` SDK): the same tools over stdio (`manage.py mcp --token …`) and
streamable HTTP (`/mcp` with `Authorization: Bearer …`).

- `registry`: the tool table and `invoke(identity, name, arguments)`, the one entry point both transports
  use: argument validation, the token role check, error mapping, the audit event.
- `run_tools`, `catalog_tools`, `aws_tools`: the tools, calling the same services and selectors as pages.
- `server`: the low-level SDK server that lists and calls the tools; `http`: bearer-token auth and the
  ASGI app mounted at /mcp.
"""
