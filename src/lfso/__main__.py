"""``python -m lfso``: the same as the ``lfso`` command."""

import sys

from .cli import main

sys.exit(main())
