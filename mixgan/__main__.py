from mixgan.cli import main

raise SystemExit(main())
