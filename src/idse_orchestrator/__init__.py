"""idse-orchestrator: a design-time documentation workspace for Intent-Driven Systems Engineering."""

__version__ = "0.4.0"
