"""Entry point of the frozen app: the same `baton` command as the pip-installed script."""

from baton.cli import main

raise SystemExit(main())
