"""Views of a whole project for people: the ``meta.md`` rollup and the static HTML site.

Both are made from the same overview (``overview.py``), read from the build's results, so they show
exactly what ``idse build`` found, and both are deterministic: the same workspace gives the same bytes.
"""
