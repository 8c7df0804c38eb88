"""FastMCP's `from_openapi` server over stdio, run by the FastMCP peer env's python (not ours).

    <.bench-env/fastmcp>/bin/python benchmarks/peers/fastmcp_openapi.py SPEC.json BASE_URL

SPEC.json is the OpenAPI document the benchmark wrote (it mirrors guru-mcp's actions); every
operation becomes a tool calling BASE_URL through FastMCP's own HTTP client. Standalone: it imports
nothing from this repository.
"""

import json
import sys

import httpx2
from fastmcp import FastMCP


def main() -> None:
    spec_path, base_url = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    client = httpx2.AsyncClient(base_url=base_url, timeout=30.0)
    server = FastMCP.from_openapi(spec, client=client, name="peer")
    server.run(transport="stdio", show_banner=False)


if __name__ == "__main__":
    main()
