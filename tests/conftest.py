"""Test configuration: property-based tests draw the same examples on every run (CI too).

Set ``LFSO_EXPLORE=N`` to draw N fresh random examples per property instead.
"""

import os

from hypothesis import settings

if os.environ.get("LFSO_EXPLORE"):
    settings.register_profile(
        "explore", max_examples=int(os.environ["LFSO_EXPLORE"]), database=None, deadline=None
    )
    settings.load_profile("explore")
else:
    settings.register_profile("lfso", derandomize=True, database=None, deadline=None)
    settings.load_profile("lfso")
