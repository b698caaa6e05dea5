"""``python -m lfso.cli``: the same as the ``lfso`` command."""

import sys

from ._main import main

sys.exit(main())
