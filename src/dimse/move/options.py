"""The command line shared by the retrieve tools (movescu, getscu): their parameters, ``-k``,
the information model and the AE titles, in DCMTK's order and words."""

from __future__ import annotations

from ..cli.app import add_ae_titles, new_command_line
from ..cli.options import CommandLine


def retrieve_command_line(name: str, title: str, model_group: str, default_ae: str) -> CommandLine:
    """``name``'s command line up to its AE titles (``model_group``: "query information model"
    for movescu, "retrieve information model" for getscu); the caller adds the rest."""
    cmd = new_command_line(name, title)
    cmd.param("peer", "hostname of DICOM peer")
    cmd.param("port", "tcp/ip port number of peer")
    cmd.param("dcmfile-in", "DICOM query file(s)", optional=True, repeat=True)
    cmd.group("network options")
    cmd.group("override matching keys", 1)
    cmd.add("-k", "--key", "override matching key", '[k]ey: gggg,eeee="str" or dict. name="str"')
    cmd.group(model_group, 1)
    cmd.add("-P", "--patient", "use patient root information model (default)")
    cmd.add("-S", "--study", "use study root information model")
    cmd.add("-O", "--psonly", "use patient/study only information model")
    cmd.group("application entity titles", 1)
    add_ae_titles(cmd, default_ae)
    return cmd
