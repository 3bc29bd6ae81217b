"""``python -m devstack up | down | status | demo | install | health``."""

import sys

from devstack.stack import main

sys.exit(main())
