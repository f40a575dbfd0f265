from emx2tui.cli import entry

entry()
