"""MCP tools: one per enabled action (dynamic, from the catalog snapshot), and the admin toolset."""
