"""Old path of :mod:`dimse.core.events`, kept for one release: the same module object."""

import sys

from .core import events

sys.modules[__name__] = events
