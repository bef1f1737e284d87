"""``python -m vocabgraft.cli``: the ``vocabgraft`` command."""

import sys

from vocabgraft.cli import main

sys.exit(main())
