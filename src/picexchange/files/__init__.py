"""Shells that read configuration files for the pure core: the partner registry and the files it names.

Each module reads text and bytes, validates the document's shape with frozen pydantic models
(:mod:`picexchange.files.document`) and hands values to the core; the core never imports this package.
"""
