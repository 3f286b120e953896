"""`python -m incident_core`: the command line of the bundle."""

import sys

from incident_core.cli import main

sys.exit(main())
