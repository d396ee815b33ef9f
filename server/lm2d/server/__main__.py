import os
import sys

from lm2d.server.app import main

# The guard keeps the feature process (spawned: it imports this module as __mp_main__) from
# starting a server of its own.
if __name__ == "__main__":
    code = main()
    # Exit without interpreter finalization: the warm-up thread may still be inside a numba compile
    # or an encoder load, or writing to stderr, and finalizing under a busy daemon thread can abort
    # the process (SIGABRT) after a clean "bye". Every output file was already written atomically.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
