"""Mirroring a project's pipeline documents to a remote design store and back.

``settings`` reads the configuration, ``store`` defines the backend interface and registry,
``record`` keeps the per-clone base of the three-way comparison, ``engine`` runs status, push,
pull and resolve. Backends live in ``backends/`` and are imported only when chosen.
"""
