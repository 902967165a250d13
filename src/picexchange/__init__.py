"""picexchange."""
