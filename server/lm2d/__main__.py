import sys

from lm2d.cli import main

sys.exit(main())
