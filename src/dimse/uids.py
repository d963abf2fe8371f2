"""UIDs the network layer itself needs; everything else comes from ``pydicom.uid``."""

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from . import __version__

VERIFICATION = "1.2.840.10008.1.1"
IMPLEMENTATION_CLASS_UID = "2.25.224042197963967476719298049876988630841"  # UUID-derived, ours
IMPLEMENTATION_VERSION_NAME = ("DIMSE_" + __version__.replace(".", ""))[:16]

UNCOMPRESSED = (ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian)
NATIVE = (*UNCOMPRESSED, DeflatedExplicitVRLittleEndian)
