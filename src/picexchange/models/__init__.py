"""Message models: the Python face of the XSDs (common, envelope, pic, export)."""
