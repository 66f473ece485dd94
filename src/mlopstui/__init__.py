__version__ = "0.1.0"

import logging as _logging

# nothing but the TUI writes to the terminal: library logging goes to the app log (logs.py) or nowhere
_logging.getLogger("mlopstui").addHandler(_logging.NullHandler())
_logging.getLogger("mlopstui").propagate = False
