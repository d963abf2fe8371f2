"""Old path of :mod:`dimse.core.connection`, kept for one release: the same module object."""

import sys

from .core import connection

sys.modules[__name__] = connection
