from fingerspell.cli import main

raise SystemExit(main())
