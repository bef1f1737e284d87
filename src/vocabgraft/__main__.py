"""``python -m vocabgraft``: the ``vocabgraft`` command."""

import sys

from vocabgraft.cli import main

sys.exit(main())
