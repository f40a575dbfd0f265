"""emx2tui: preview, confirm and run data migrations between MOLGENIS EMX2 schemas."""

__version__ = "0.1.0"
