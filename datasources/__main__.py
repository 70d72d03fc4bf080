"""`python3 -m datasources [--demo]`: fetch and verify the data sets (see datasources.fetch)."""

import sys

if sys.version_info < (3, 11):  # noqa: UP036  (runs on the system python, before the virtualenv exists)
    sys.exit(f"Stratify needs Python 3.11 or newer; found {sys.version.split()[0]}.")

from datasources.fetch import main

sys.exit(main())
