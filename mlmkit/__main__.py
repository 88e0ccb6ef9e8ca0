"""`python -m mlmkit` (and `accelerate launch -m mlmkit ...`) runs the CLI."""

import sys

from mlmkit.cli import main

sys.exit(main())
