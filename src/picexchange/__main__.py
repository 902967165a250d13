"""Run the CLI as ``python -m picexchange``."""

from picexchange.cli import main

main()
