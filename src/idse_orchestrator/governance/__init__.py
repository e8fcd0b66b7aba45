"""Governance: the constitution as a declarative rule set and the engine that applies it.

``engine`` is pure (documents in, findings out); ``loader`` does the reading; ``report`` renders.
"""
