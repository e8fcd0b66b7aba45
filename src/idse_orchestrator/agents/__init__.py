"""Agents: the registry's routing, the IDE agent instruction files and the agent profile compiler.

Submodules are imported on demand (``registry``, ``files``, ``profile``, ``compiler``, ``schema``) so that
commands which do not need Jinja2 or PyYAML never load them.
"""
