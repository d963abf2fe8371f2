"""findscu: DICOM query (C-FIND) SCU, a drop-in for DCMTK 3.6.7's.

Beyond DCMTK: ``--json`` prints each response identifier as one line of the DICOM JSON model
(PS3.18 F.2) on stdout; and a C-FIND that failed (a bad ``-k`` key or query file, an error
status, no response, a peer abort) exits 69, where DCMTK exits 0.  Exit codes otherwise as
DCMTK's.  The C-FIND loop itself is :mod:`dimse.find.finder`.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import IntEnum

from ..cli import network, tls
from ..cli.app import add_ae_titles, add_max_pdu, add_timeouts, end_association, new_command_line, run
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed
from ..core.negotiation import build_request
from ..core.pdu import AssociateRQ
from ..dcmtk import dumps
from ..errors import AssociationRejected, DimseError
from ..find.finder import Finder, FindOptions, FindResult
from ..find.output import ResponseFiles
from ..net.association import Association, Timeouts
from ..store import proposal


class FindscuExit(IntEnum):
    """findscu's exit codes: DCMTK 3.6.7's values, and one of ours."""

    NO_ERROR = 0
    COMMANDLINE_SYNTAX_ERROR = 1  # also: TLS set-up failed, -X output directory missing
    ASSOCIATION_FAILED = 2  # no connection, rejected, no acceptable presentation context
    FIND_FAILED = 69  # beyond DCMTK (it exits 0): a query not made, or not answered with success


#: the FIND SOP class of each information model option (-W is DCMTK's default)
MODELS = {
    "--worklist": "1.2.840.10008.5.1.4.31",
    "--patient": "1.2.840.10008.5.1.4.1.2.1.1",
    "--study": "1.2.840.10008.5.1.4.1.2.2.1",
    "--psonly": "1.2.840.10008.5.1.4.1.2.3.1",
}
PROPOSALS = ("--propose-uncompr", "--propose-little", "--propose-big", "--propose-deflated", "--propose-implicit")
#: the options that write responses somewhere: the identifiers then leave the logger (unless +sr)
EXTRACTS = ("--extract", "--extract-xml", "--extract-xml-single", "--json")


def command_line() -> CommandLine:
    cmd = new_command_line("findscu", "DICOM query (C-FIND) SCU")
    cmd.param("peer", "hostname of DICOM peer")
    cmd.param("port", "tcp/ip port number of peer")
    cmd.param("dcmfile-in", "DICOM query file(s)", optional=True, repeat=True)
    cmd.group("network options")
    _query_options(cmd)
    cmd.group("post-1993 value representations", 1)
    cmd.add("+u", "--enable-new-vr", "enable support for new VRs (UN/UT) (default)")
    cmd.add("-u", "--disable-new-vr", "disable support for new VRs, convert to OB")
    cmd.group("proposed transmission transfer syntaxes", 1)
    proposal.add_options(cmd, PROPOSALS)
    cmd.group("deflate compression level (only with --propose-deflated)", 1)
    cmd.add(
        "+cl", "--compression-level", "0=uncompressed, 1=fastest, 9=best compression", "[l]evel: integer (default: 6)"
    )
    cmd.group("other network options", 1)
    add_timeouts(cmd)
    add_max_pdu(cmd)
    cmd.add(None, "--repeat", "repeat n times", "[n]umber: integer")
    cmd.add(None, "--abort", "abort association instead of releasing it")
    cmd.add(None, "--cancel", "cancel after n responses (default: never)", "[n]umber: integer")
    tls.add_options(cmd, "client")
    cmd.group("output options")
    _output_options(cmd)
    return cmd


def _query_options(cmd: CommandLine) -> None:
    cmd.group("override matching keys", 1)
    cmd.add("-k", "--key", "override matching key", '[k]ey: gggg,eeee="str", path or dict. name="str"')
    cmd.group("query information model", 1)
    cmd.add("-W", "--worklist", "use modality worklist information model (def.)")
    cmd.add("-P", "--patient", "use patient root information model")
    cmd.add("-S", "--study", "use study root information model")
    cmd.add("-O", "--psonly", "use patient/study only information model")
    cmd.group("application entity titles", 1)
    add_ae_titles(cmd, "FINDSCU")


def _output_options(cmd: CommandLine) -> None:
    cmd.group("general", 1)
    cmd.add(
        "-od", "--output-directory", "write output files to existing directory d", '[d]irectory: string (default: ".")'
    )
    cmd.group("automatic data correction", 1)
    cmd.add("+dc", "--enable-correction", "enable automatic data correction")
    cmd.add("-dc", "--disable-correction", "disable automatic data correction (default)")
    cmd.group("C-FIND responses", 1)
    cmd.add("+sr", "--show-responses", "always output responses to the logger")
    cmd.add("-sr", "--hide-responses", "do not output responses to the logger")
    cmd.add("-X", "--extract", "extract responses to DICOM file (rsp0001.dcm...)")
    cmd.add("-Xx", "--extract-xml", "extract responses to XML file (rsp0001.xml...)\n(not supported)")
    cmd.add(
        "-Xs",
        "--extract-xml-single",
        "extract all responses to given XML file f\n(not supported)",
        "[f]ilename: string",
    )
    cmd.add(
        "-Xlo",
        "--limit-output",
        "limit number of responses extracted to file to n",
        "[n]umber: integer\n(default: unlimited)",
    )
    cmd.add(None, "--json", "print each response as one line of DICOM JSON\non stdout (beyond DCMTK)")


def _request(parsed: Parsed, sop_class: str) -> AssociateRQ:
    """One presentation context: the model's FIND class with the ``-x`` syntaxes."""
    syntaxes = proposal.from_options(parsed, PROPOSALS).transfer_syntaxes
    return build_request(
        network.ae_title(parsed, "--aetitle", "FINDSCU"),
        network.ae_title(parsed, "--call", "ANY-SCP"),
        [(sop_class, syntaxes)],
        network.max_pdu(parsed),
    )


def _query_files(parsed: Parsed) -> list[str | None]:
    """The query files (checked now, as DCMTK does), or one request of the keys alone."""
    files = parsed.params[2:]
    for path in files:
        if not os.access(path, os.R_OK) or os.path.isdir(path):
            raise CommandLineError(f"cannot access file: {path}")
    if not files and not parsed.has("--key"):
        raise CommandLineError("either query file or override keys (or both) must be specified")
    return list(files) or [None]


def _check_values(parsed: Parsed) -> None:
    """Every option value now, before any network work, in DCMTK's words."""
    network.check_values(parsed)
    network.int_option(parsed, "--cancel", 0, 0)
    if parsed.has("--compression-level"):
        if parsed.winner(*PROPOSALS) != "--propose-deflated":
            raise CommandLineError("--compression-level only allowed with --propose-deflated")
        network.int_option(parsed, "--compression-level", 6, 0, 9)
    if parsed.has("--limit-output"):
        if not any(parsed.has(o) for o in EXTRACTS[:3]):
            raise CommandLineError("--limit-output only allowed with --extract, --extract-xml or --extract-xml-single")
        network.int_option(parsed, "--limit-output", None, 1)
    for unsupported in ("--extract-xml", "--extract-xml-single"):
        if parsed.has(unsupported):
            raise CommandLineError(f"{unsupported} is not supported (use --extract or --json)")


def _show_responses(parsed: Parsed, log: logging.Logger) -> bool:
    """Whether identifiers go to the logger, and the level of its ``responses`` child: DCMTK
    shows them at the default log level unless an extract option (or -sr) is given; ``+sr``
    shows them whatever the level."""
    choice = parsed.winner("--show-responses", "--hide-responses")
    show = choice == "--show-responses" or (choice is None and not any(parsed.has(o) for o in EXTRACTS))
    explicit = any(parsed.has(o) for o in ("--quiet", "--log-level", "--log-config"))
    if show and (choice == "--show-responses" or not explicit):
        responses = log.getChild("responses")
        responses.setLevel(min(logging.INFO, logging.getLogger("dimse").getEffectiveLevel()))
    return show


def _output_folder(parsed: Parsed, log: logging.Logger) -> str | None | FindscuExit:
    """``-od`` for ``-X`` (None without ``-X``, "" for the current directory), or the exit code
    after saying why not."""
    if not parsed.has("--extract"):
        return None
    folder = parsed.value("--output-directory", "")
    if not os.path.isdir(folder or "."):
        log.critical("specified output directory does not exist")
        return FindscuExit.COMMANDLINE_SYNTAX_ERROR
    if not os.access(folder or ".", os.W_OK):
        log.critical("specified output directory is not writeable")
        return FindscuExit.COMMANDLINE_SYNTAX_ERROR
    return folder


async def findscu_main(parsed: Parsed) -> int:
    log = configure(parsed, "findscu")
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    query_files = _query_files(parsed)
    _check_values(parsed)
    sop_class = MODELS[parsed.winner(*MODELS) or "--worklist"]
    rq = _request(parsed, sop_class)
    timeouts = network.timeouts(parsed)
    tls.check(parsed, "client")
    folder = _output_folder(parsed, log)
    if isinstance(folder, FindscuExit):
        return folder
    files = None
    if folder is not None:
        files = ResponseFiles(folder, sop_class, network.int_option(parsed, "--limit-output", None, 1), log)
    options = FindOptions(
        sop_class=sop_class,
        keys=tuple(values[0] for values in parsed.all_values("--key")),
        cancel_after=network.int_option(parsed, "--cancel", 0, 0),
        show=_show_responses(parsed, log),
        files=files,
        json_out=sys.stdout if parsed.has("--json") else None,
    )
    contexts = tls.contexts(parsed, "client", log)
    if contexts is None:
        return FindscuExit.COMMANDLINE_SYNTAX_ERROR
    try:
        assoc = await _associate(host, port, rq, timeouts, contexts, log)
        if isinstance(assoc, FindscuExit):
            return assoc
        return await _find(assoc, options, query_files, parsed, log)
    finally:
        contexts.finish()


async def _associate(
    host: str, port: int, rq: AssociateRQ, timeouts: Timeouts, contexts: tls.TLSContexts, log: logging.Logger
) -> Association | FindscuExit:
    """The association, or the exit code after logging why there is none (DCMTK's lines)."""
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Request Parameters:\n%s", dumps.dump_association(rq, None, True))
    log.info("Requesting Association")
    try:
        assoc = await Association.request(host, port, rq, timeouts, **contexts.request_options)
    except AssociationRejected as exc:
        log.error("Association Rejected:\n%s", describe(exc))
        return FindscuExit.ASSOCIATION_FAILED
    except (DimseError, OSError) as exc:
        log.error("Association Request Failed: %s", describe(exc))
        return FindscuExit.ASSOCIATION_FAILED
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Association Parameters Negotiated:\n%s", dumps.dump_association(rq, assoc.conn.accept_pdu, True))
    if not assoc.contexts:
        log.error("No Acceptable Presentation Contexts")
        await assoc.abort()
        return FindscuExit.ASSOCIATION_FAILED
    log.info("Association Accepted (Max Send PDV: %d)", network.announced_max_pdv(assoc.conn))
    return assoc


async def _find(
    assoc: Association, options: FindOptions, query_files: list[str | None], parsed: Parsed, log: logging.Logger
) -> int:
    """The C-FINDs, then the release (or ``--abort``)."""
    finder = Finder(assoc, options, log)
    ended = await finder.run(query_files, network.int_option(parsed, "--repeat", 1, 1))
    code = FindscuExit.NO_ERROR if finder.result == FindResult.SUCCESS else FindscuExit.FIND_FAILED
    if ended:
        abort = parsed.has("--abort")
        failure = await end_association(assoc, abort, log)
        if failure is not None:
            log.error("Association %s Failed: %s", "Abort" if abort else "Release", describe(failure))
            code = FindscuExit.ASSOCIATION_FAILED
    return code


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, findscu_main)
