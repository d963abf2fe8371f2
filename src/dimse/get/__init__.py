"""getscu's machinery: the C-GET loop, its contexts, the objects received on the association."""
