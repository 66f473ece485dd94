"""`python -m mlopstui` = the `mlopstui` command."""

import sys

from mlopstui.cli import main

sys.exit(main())
