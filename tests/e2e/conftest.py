import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from fixtures import *  # noqa: E402,F401,F403 (pytest hooks and fixtures of the integration tests)
