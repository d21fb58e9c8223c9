"""``python -m app`` opens the dashboard, like ``fluxum`` with no command.

``python -m`` puts the working directory first on ``sys.path``, so this runs from the repository (or wherever
Fluxum's ``app`` is the first one found). The ``fluxum`` console script does not: its ``sys.path[0]`` is its own
``bin`` directory, so another project's ``app`` package in the working directory is never imported
(tests/test_cli.py checks it)."""

from app.cli import main

raise SystemExit(main())
