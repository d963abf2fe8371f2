"""Old path of :mod:`dimse.core.pdu`, kept for one release: the same module object."""

import sys

from .core import pdu

sys.modules[__name__] = pdu
