"""MCP (the Model Context Protocol): the servers a request's ``mcp`` tools name, the client that lists and
calls their tools (the official ``mcp`` SDK, imported on first use), OpenAI's MCP output items, and Ferryman's
own ``/mcp`` endpoint. The tool loop that runs them around dispatch is ``gateway/toolloop.py``."""
