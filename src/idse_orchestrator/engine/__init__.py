"""The build engine: idse's pipeline as a doit task graph.

``doit_adapter`` is the only module that imports doit. Task generators live in the top-level
``tasks/`` package (shipped as ``idse_orchestrator.tasks``) and yield plain task dictionaries.
"""
