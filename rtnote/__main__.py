import sys

from rtnote.cli import main

sys.exit(main())
