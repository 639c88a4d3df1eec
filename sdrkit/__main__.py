"""``python -m sdrkit`` runs the CLI."""

import sys

from sdrkit.cli import main

sys.exit(main())
