import sys

from lm2d.server.app import main

sys.exit(main())
