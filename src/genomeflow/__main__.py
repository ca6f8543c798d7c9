"""``python -m genomeflow``: the command line."""

from genomeflow.cli import main

raise SystemExit(main())
