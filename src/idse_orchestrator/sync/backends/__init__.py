"""Design store backends, one module per backend, each exposing ``open_store(settings, ws)``."""
