"""``python -m sigcg.codegen``: the generator's command line (see cli.py)."""

from .cli import main

raise SystemExit(main())
