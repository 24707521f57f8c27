from fixtures import *  # noqa: F401,F403 (pytest hooks and fixtures shared with tests/e2e)
