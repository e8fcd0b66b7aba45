"""`idse mcp`: the workspace as a Model Context Protocol server (stdio).

``tools`` holds the tools as plain typed functions over the same core functions as the CLI (no SDK
import, testable on its own); ``server`` binds them to the official ``mcp`` SDK.
"""
