"""UIDs the network layer itself needs (plain strings: importing pydicom for them would
cost a tool most of its start-up time); everything else comes from ``pydicom.uid``."""

from ._version import __version__

ImplicitVRLittleEndian = "1.2.840.10008.1.2"
ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
ExplicitVRBigEndian = "1.2.840.10008.1.2.2"

VERIFICATION = "1.2.840.10008.1.1"
IMPLEMENTATION_CLASS_UID = "2.25.224042197963967476719298049876988630841"  # UUID-derived, ours
IMPLEMENTATION_VERSION_NAME = ("DIMSE_" + __version__.replace(".", ""))[:16]

#: the uncompressed syntaxes in DCMTK's order of proposal and preference (explicit VR little
#: endian, big endian, implicit VR): storescu's and movescu's fallbacks, storescp's default
UNCOMPRESSED = (ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian)
NATIVE = (*UNCOMPRESSED, DeflatedExplicitVRLittleEndian)
