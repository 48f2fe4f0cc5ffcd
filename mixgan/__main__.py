"""``python -m mixgan``: the command line."""
from mixgan.commands.main import main

raise SystemExit(main())
