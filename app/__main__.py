"""``python -m app`` opens the dashboard, like ``fluxum`` with no command."""

from app.cli import main

raise SystemExit(main())
