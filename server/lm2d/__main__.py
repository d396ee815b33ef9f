import sys

from lm2d.cli import main

# Guarded: a spawned child process (the feature process) imports the main module as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
