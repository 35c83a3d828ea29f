"""``python -m embaudit.cli``: the ``embaudit`` command."""

import sys

from embaudit.cli import main

sys.exit(main())
