"""The ``lfso`` command line (also ``python -m lfso``): a thin layer over the public API.

``lfso demo``      lfso's certified methods, the paper's LFSO-GD, grid-tuned GD and SciPy's
                   L-BFGS-B on the paper's problems, with a summary.
``lfso solve P``   one built-in problem with progress lines and a summary.
``lfso bench``     the benchmark suite (tables, CSV and figures).
``lfso check-oracle P``  test a problem's oracle by sampling.
``lfso compare P``  a baseline rule beside LFSO, with an HTML report.
``lfso problems``  list the built-in problems.
``lfso rollout P --current ...``  pilot, guarded run and return on investment.

``lfso <command> --help`` lists a command's options.
"""

from ._main import main

__all__ = ["main"]
