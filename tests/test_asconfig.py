"""storescu -xf: DCMTK's association configuration files, side by side with DCMTK's storescu."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CT_SMALL, dcmtk, missing, ours, run
from .recording import RecordingSCP, contexts

OUR_EXAMPLE = Path(__file__).parent.parent / "examples" / "storescu.cfg"
DCMTK_EXAMPLE = Path("/etc/dcmtk/storescu.cfg")


@pytest.mark.parametrize("config", [DCMTK_EXAMPLE, OUR_EXAMPLE], ids=["dcmtk-file", "our-file"])
@pytest.mark.parametrize("profile", ["Default", "default", " DEF AULT "])
def test_same_proposal_as_dcmtk(config, profile):
    """DCMTK storescu with DCMTK's storescu.cfg and our storescu with <config>: the same 128 contexts
    in the same order, same exit code (the recording SCP rejects)."""
    if not DCMTK_EXAMPLE.exists():
        missing("DCMTK's storescu.cfg is not installed (apt-get install dcmtk)")
    with RecordingSCP() as scp:
        theirs = run([dcmtk("storescu"), "-xf", str(DCMTK_EXAMPLE), profile, "127.0.0.1", str(scp.port), str(CT_SMALL)])
        mine = run([ours("storescu"), "-xf", str(config), profile, "127.0.0.1", str(scp.port), str(CT_SMALL)])
    assert len(scp.requests) == 2
    assert len(contexts(scp.requests[1])) == 128
    assert contexts(scp.requests[1]) == contexts(scp.requests[0])
    assert mine.returncode == theirs.returncode == 1


ROLE_CONFIG = """# roles and extended negotiation
[[TransferSyntaxes]]
[Plain]
TransferSyntax1 = LittleEndianExplicit
TransferSyntax2 = 1.2.840.10008.1.2

[[PresentationContexts]]
[Mine]
PresentationContext1 = CTImageStorage\\Plain
PresentationContext2 = 1.2.840.10008.5.1.4.1.1.4\\plain
PresentationContext3 = CTImageStorage\\PLAIN

[[SCPSCURoleSelection]]
[Roles]
Role1 = CTImageStorage\\both
Role2 = MRImageStorage\\SCU

[[ExtendedNegotiation]]
[Ext]
ExtendedNegotiation1 = CTImageStorage\\0102030405
ExtendedNegotiation2 = 1.2.840.10008.5.1.4.1.1.7\\ff

[[Profiles]]
[WithItems]
PresentationContexts = Mine
SCPSCURoleSelection = Roles
ExtendedNegotiation = Ext
"""


def test_roles_and_extended_negotiation_arrive_at_pynetdicom(tmp_path):
    """A profile with role selection and extended negotiation: the items pynetdicom receives are the
    ones in the file, byte for byte (one role item per context, as DCMTK sends)."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    config = tmp_path / "roles.cfg"
    config.write_text(ROLE_CONFIG)
    seen = []

    def on_requested(event):
        seen.append(event.assoc.requestor.user_information)

    ae = AE(ae_title="ANY-SCP")
    for uid in ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"):
        ae.add_supported_context(uid, ["1.2.840.10008.1.2.1"], scu_role=True, scp_role=True)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    server = ae.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_REQUESTED, on_requested), (evt.EVT_C_STORE, lambda event: 0)],
    )
    try:
        port = server.socket.getsockname()[1]
        mine = run([ours("storescu"), "-xf", str(config), "withitems", "127.0.0.1", str(port), str(CT_SMALL)])
    finally:
        server.shutdown()
    assert mine.returncode == 0, mine.stderr
    (items,) = seen
    roles = [(str(i.sop_class_uid), bool(i.scu_role), bool(i.scp_role)) for i in items if hasattr(i, "scu_role")]
    assert roles == [
        ("1.2.840.10008.5.1.4.1.1.2", True, True),
        ("1.2.840.10008.5.1.4.1.1.4", True, False),
        ("1.2.840.10008.5.1.4.1.1.2", True, True),
    ]
    extended = [
        (str(i.sop_class_uid), bytes(i.service_class_application_information))
        for i in items
        if hasattr(i, "service_class_application_information")
    ]
    assert extended == [("1.2.840.10008.5.1.4.1.1.2", b"\x01\x02\x03\x04\x05"), ("1.2.840.10008.5.1.4.1.1.7", b"\xff")]


BROKEN = {
    "missing-section": (
        "[[TransferSyntaxes]]\n[A]\nTransferSyntax1 = LittleEndianExplicit\n[[Profiles]]\n[P]\nPresentationContexts = X\n",
        "P",
        "cannot find section [[PRESENTATIONCONTEXTS]] in config file",
    ),
    "unknown-name": (
        ROLE_CONFIG.replace("CTImageStorage\\Plain", "NoSuchStorage\\Plain"),
        "WithItems",
        "not a valid abstract syntax UID: NoSuchStorage",
    ),
    "unknown-ts-name": (
        ROLE_CONFIG.replace("= LittleEndianExplicit", "= LittleEndianSideways"),
        "WithItems",
        "not a valid transfer syntax UID: LittleEndianSideways",
    ),
    "duplicate-role": (
        ROLE_CONFIG.replace("Role2 = MRImageStorage\\SCU", "Role2 = CTImageStorage\\SCU"),
        "WithItems",
        "role selection defined twice for abstract syntax UID: 1.2.840.10008.5.1.4.1.1.2",
    ),
    "bad-role": (
        ROLE_CONFIG.replace("\\both", "\\sometimes"),
        "WithItems",
        "syntax error: unknown role key in entry Role1 in config file",
    ),
    "missing-backslash": (
        ROLE_CONFIG.replace("PresentationContext1 = CTImageStorage\\Plain", "PresentationContext1 = CTImageStorage"),
        "WithItems",
        "syntax error: missing '\\' in entry PresentationContext1 in config file",
    ),
    "too-many-contexts": (
        "[[TransferSyntaxes]]\n[A]\nTransferSyntax1 = LittleEndianExplicit\n[[PresentationContexts]]\n[L]\n"
        + "".join(f"PresentationContext{i} = CTImageStorage\\A\n" for i in range(1, 130))
        + "[[Profiles]]\n[P]\nPresentationContexts = L\n",
        "P",
        "presentation context list too long (> 128 entries): L",
    ),
    "unknown-profile": (ROLE_CONFIG, "nothere", "0006:0426 profile key undefined: NOTHERE"),
    "undefined-ts-label": (
        ROLE_CONFIG.replace("CTImageStorage\\PLAIN", "CTImageStorage\\Fancy"),
        "WithItems",
        "transfer syntax key undefined: FANCY",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_config_files_side_by_side(tmp_path, case):
    """Broken config files: our clear message (DCMTK's words, plus file and line where known), and
    DCMTK's exit code 1."""
    text, profile, message = BROKEN[case]
    config = tmp_path / "broken.cfg"
    config.write_text(text)
    theirs = run([dcmtk("storescu"), "-xf", str(config), profile, "127.0.0.1", "1", str(CT_SMALL)])
    mine = run([ours("storescu"), "-xf", str(config), profile, "127.0.0.1", "1", str(CT_SMALL)])
    assert mine.returncode == theirs.returncode == 1
    assert message in mine.stderr
    assert len(mine.stderr.strip().splitlines()) == 1, mine.stderr
    assert "Traceback" not in mine.stderr


@pytest.mark.parametrize("option", ["-xs", "-R", "+C"])
def test_config_file_conflicts_side_by_side(option):
    theirs = run([dcmtk("storescu"), "-xf", str(OUR_EXAMPLE), "Default", option, "127.0.0.1", "1", str(CT_SMALL)])
    mine = run([ours("storescu"), "-xf", str(OUR_EXAMPLE), "Default", option, "127.0.0.1", "1", str(CT_SMALL)])
    assert mine.returncode == theirs.returncode == 1
    assert [x for x in mine.stderr.splitlines() if x.startswith("error:")] == [
        x for x in theirs.stderr.splitlines() if x.startswith("error:")
    ]
