"""`python -m engine ...` is `dreamstyle engine ...` (how the host starts a local engine)."""

import sys

from .cli import main

sys.exit(main())
