"""python -m dterm_cli: the same as the `dterm` command."""

import sys

from dterm_cli.commands import main

sys.exit(main())
