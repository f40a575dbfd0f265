"""Modal screens of the emx2tui app."""
