"""Old path of :mod:`dimse.files.part10`, kept for one release: the same module object."""

import sys

from .files import part10

sys.modules[__name__] = part10
