"""``python -m genomeflow.cli``: the command line."""

from genomeflow.cli import main

raise SystemExit(main())
