import sys

from vocabgraft.cli import main

sys.exit(main())
