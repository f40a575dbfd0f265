"""Widgets of the emx2tui app."""
