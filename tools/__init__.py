"""Build-time tools of the repository: the XSD and Utility Block spec generators.

They read the models and write committed files (``src/picexchange/xsd/``, ``utility_blocks/``,
``docs/reference/``); nothing at run time needs them, so they sit beside the package and the wheel does not
ship them. Run them from the repository root: ``python -m tools.xsdgen``, ``python -m tools.ubspec``.
"""
