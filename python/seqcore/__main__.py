import sys

from seqcore.cli import main

sys.exit(main())
