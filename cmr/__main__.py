from cmr.cli import main

raise SystemExit(main())
