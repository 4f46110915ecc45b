"""``python -m tierguard``: the same entry point as the ``tierguard`` console script."""

import sys

from tierguard.commands.root import main

sys.exit(main())
