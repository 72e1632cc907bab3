"""`python -m s2dhm_ros.cli` is the `s2dhm` command."""
import sys

from . import main

sys.exit(main())
