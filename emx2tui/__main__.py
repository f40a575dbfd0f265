from emx2tui.cli import main

raise SystemExit(main())
