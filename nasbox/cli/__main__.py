"""``python -m nasbox.cli``."""

import sys

from nasbox.cli import main

sys.exit(main())
