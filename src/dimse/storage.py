"""Old path of :mod:`dimse.files.storage`, kept for one release: the same module object."""

import sys

from .files import storage

sys.modules[__name__] = storage
