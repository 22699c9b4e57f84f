"""``python -m attnviz.dashboard`` (``make dashboard``): serve the live dashboard on 127.0.0.1."""

import sys

from attnviz.dashboard.server import main

if __name__ == "__main__":
    sys.exit(main())
