"""One conformance suite for every sync backend: the same cases, parametrized over ``backends.FACTORIES``."""
