"""Screens of the emx2tui app."""
