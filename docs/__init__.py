"""The reference documentation, shipped in the wheel as ``idse_orchestrator.manual`` (`idse docs`)."""
