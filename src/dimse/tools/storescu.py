"""storescu: DICOM storage (C-STORE) SCU, a drop-in for DCMTK's (3.7.0 option set).

Beyond DCMTK: files are streamed from disk when their syntax was accepted; compressed files
are decompressed when the peer only takes uncompressed ones (``+dls``/``+dly``/``-dn``); more
than 128 presentation contexts are spread over several associations (``+ma``); ``--report``
writes a JSON record of every file.  Exit codes are DCMTK's (spec section 4.1).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..cli import identity, network, tls
from ..cli.app import add_ae_titles, add_max_pdu, add_timeouts, end_association, new_command_line, run
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed
from ..cli.progress import NoBar
from ..cli.progress import progress_bar as make_bar
from ..cli.progress import wanted as bar_wanted
from ..core.negotiation import MAX_CONTEXTS, build_request
from ..dcmtk import dumps
from ..dcmtk.sopclasses import STORESCU_DEFAULT_CLASSES
from ..errors import AssociationRejected, DimseError
from ..net.association import MAX_WINDOW, Association
from ..store import inputs, proposal
from ..store.asconfig import AssociationConfig, ConfigError
from ..store.inputs import InputError, ReadMode
from ..store.invent import Inventor
from ..store.sender import Dots, Lookahead, Outcome, SendOptions, StoreWindow, send_file
from ..store.transcode import Transcoder

#: the asynchronous operations window storescu proposes (PS3.7 D.3.3.3)
DEFAULT_WINDOW = 16


def command_line() -> CommandLine:
    cmd = new_command_line("storescu", "DICOM storage (C-STORE) SCU")
    cmd.param("peer", "hostname of DICOM peer")
    cmd.param("port", "tcp/ip port number of peer")
    cmd.param("dcmfile-in", "DICOM file or directory to be transmitted", repeat=True)
    cmd.add("+v", "--verbose-pc", "show presentation contexts in verbose mode")
    cmd.group("input options")
    cmd.group("input file format", 1)
    cmd.add("+f", "--read-file", "read file format or data set (default)")
    cmd.add("+fo", "--read-file-only", "read file format only")
    cmd.add("-f", "--read-dataset", "read data set without file meta information")
    cmd.group("input files", 1)
    cmd.add("+sd", "--scan-directories", "scan directories for input files (dcmfile-in)")
    cmd.add(
        "+sp",
        "--scan-pattern",
        "pattern for filename matching (wildcards)",
        "[p]attern: string (only with --scan-directories)",
    )
    cmd.add("-r", "--no-recurse", "do not recurse within directories (default)")
    cmd.add("+r", "--recurse", "recurse within specified directories")
    cmd.add("-rn", "--no-rename", "do not rename processed files (default)")
    cmd.add("+rn", "--rename", "append .done/.bad to processed files")
    cmd.group("network options")
    cmd.group("IP protocol version", 1)
    cmd.add("-i4", "--ipv4", "use IPv4 only (default)")
    cmd.add("-i6", "--ipv6", "use IPv6 only")
    cmd.add("-i0", "--ip-auto", "use DNS lookup to determine IP protocol")
    cmd.group("application entity titles", 1)
    add_ae_titles(cmd, "STORESCU")
    cmd.group("association negotiation profile from configuration file", 1)
    cmd.add(
        "-xf",
        "--config-file",
        "use profile p from config file f\n(format: docs/config-file.md, example: examples/storescu.cfg)",
        "[f]ilename, [p]rofile: string",
        "",
    )
    cmd.group("proposed transmission transfer syntaxes (not with --config-file)", 1)
    proposal.add_options(cmd)
    cmd.add("-R", "--required", "propose only required presentation contexts\n(default: propose all supported)")
    cmd.add("+C", "--combine", "combine proposed transfer syntaxes\n(default: separate presentation context for each)")
    cmd.group("more than 128 presentation contexts (beyond DCMTK)", 1)
    cmd.add("+ma", "--multi-associations", "use further associations one after another (default)")
    cmd.add("-ma", "--no-multi-associations", "fail as DCMTK does")
    cmd.group("post-1993 value representations", 1)
    cmd.add("+u", "--enable-new-vr", "enable support for new VRs (UN/UT) (default)")
    cmd.add("-u", "--disable-new-vr", "disable support for new VRs, convert to OB")
    cmd.group("deflate compression level (only with -xd)", 1)
    cmd.add(
        "+cl", "--compression-level", "0=uncompressed, 1=fastest, 9=best compression", "[l]evel: integer (default: 6)"
    )
    cmd.group("decompression of files the peer does not accept compressed (beyond DCMTK)", 1)
    cmd.add("+dls", "--decompress-lossless", "decompress lossless compressed files only (default)")
    cmd.add("+dly", "--decompress-lossy", "decompress lossless and lossy compressed files")
    cmd.add("-dn", "--decompress-never", "never decompress, fail as DCMTK does")
    cmd.group("other network options", 1)
    add_timeouts(cmd)
    add_max_pdu(cmd)
    cmd.add(None, "--max-send-pdu", "restrict max send pdu to n bytes", "[n]umber of bytes: integer (4096..131072)")
    cmd.add(None, "--repeat", "repeat n times", "[n]umber: integer")
    cmd.add(None, "--abort", "abort association instead of releasing it")
    cmd.add("-nh", "--no-halt", "do not halt if unsuccessful store encountered\n(default: do halt)")
    cmd.add("-up", "--uid-padding", "silently correct space-padded UIDs")
    cmd.add("+II", "--invent-instance", "invent a new SOP instance UID for every image sent")
    cmd.add(
        "+IR",
        "--invent-series",
        "invent a new series UID after n images\nhave been sent (default: 100)",
        "[n]umber: integer (implies --invent-instance)",
    )
    cmd.add(
        "+IS",
        "--invent-study",
        "invent a new study UID after n series\nhave been sent (default: 50)",
        "[n]umber: integer (implies --invent-instance)",
    )
    cmd.add(
        "+IP",
        "--invent-patient",
        "invent a new patient ID and name after n studies\nhave been sent (default: 25)",
        "[n]umber: integer (implies --invent-instance)",
    )
    cmd.add(
        None,
        "--parallel",
        "send over n associations at once (beyond DCMTK);\nthe receiver must accept several at a time",
        "[n]umber: integer (default: 1)",
    )
    cmd.add(
        None,
        "--async-window",
        "propose n outstanding C-STOREs (beyond DCMTK);\nused as far as the peer grants it, 1: do not propose",
        f"[n]umber: integer (default: {DEFAULT_WINDOW})",
    )
    identity.add_options(cmd)
    tls.add_options(cmd, "client")
    cmd.group("reporting (beyond DCMTK)")
    cmd.add(None, "--report", "write a JSON summary and one record per file to f", "[f]ilename: string")
    return cmd


def _check_dependencies(parsed: Parsed, proposed: proposal.Proposal) -> None:
    """DCMTK's dependency checks, against the winning options only."""
    if (
        parsed.has("--verbose-pc")
        and not parsed.winner("--verbose", "--debug")
        and parsed.value("--log-level") not in ("info", "debug", "trace")
    ):
        raise CommandLineError("--verbose-pc only allowed with verbose mode")
    if parsed.has("--scan-pattern") and not parsed.has("--scan-directories"):
        raise CommandLineError("--scan-pattern only allowed with --scan-directories")
    if parsed.winner("--no-recurse", "--recurse") == "--recurse" and not parsed.has("--scan-directories"):
        raise CommandLineError("--recurse only allowed with --scan-directories")
    if parsed.has("--config-file"):
        choice = parsed.winner(*proposal.PROPOSE_LONGS)
        for other in ([choice] if choice and choice != "--propose-uncompr" else []) + ["--required", "--combine"]:
            if parsed.has(other):
                raise CommandLineError(f"--config-file not allowed with {other}")
    if (
        parsed.has("--compression-level")
        and proposed.preferred != proposal.DEFLATED
        and not parsed.has("--config-file")
    ):
        raise CommandLineError("--compression-level only allowed with --propose-deflated or --config-file")


def _inventor(parsed: Parsed, log: logging.Logger) -> Inventor | None:
    options = ("--invent-instance", "--invent-series", "--invent-study", "--invent-patient")
    if not any(parsed.has(o) for o in options):
        return None
    return Inventor(
        images_per_series=network.int_option(parsed, "--invent-series", 100, 1),
        series_per_study=network.int_option(parsed, "--invent-study", 50, 1),
        studies_per_patient=network.int_option(parsed, "--invent-patient", 25, 1),
        log=log,
    )


def _read_mode(parsed: Parsed) -> ReadMode:
    choice = parsed.winner("--read-file", "--read-file-only", "--read-dataset")
    return {
        "--read-file-only": ReadMode(True, False),
        "--read-dataset": ReadMode(False, True),
    }.get(choice or "", ReadMode(True, True))


def _batches(classes: list[str], proposed: proposal.Proposal) -> list[list[str]]:
    """SOP classes grouped so that each group's contexts fit one association (128)."""
    batches: list[list[str]] = [[]]
    used = 0
    for sop_class in classes:
        need = len(proposed.contexts_for(sop_class))
        if used + need > MAX_CONTEXTS and batches[-1]:
            batches.append([])
            used = 0
        batches[-1].append(sop_class)
        used += need
    return batches


def progress_bar(files: list[str], repeat: int, log: logging.Logger) -> Any:
    """Files, bytes, rate and ETA (see :func:`dimse.cli.progress.wanted` for when)."""
    enabled = bar_wanted(log)
    total = sum(inputs.file_size(f) for f in files) * repeat if enabled else 0
    return make_bar(enabled, total=total, unit="B", unit_scale=True, unit_divisor=1024)


def _rename(path: str, ok: bool, log: logging.Logger) -> None:
    new = f"{path}.{'done' if ok else 'bad'}"
    try:
        os.rename(path, new)
        log.debug("renamed file '%s' to '%s'", path, new)
    except OSError:
        log.warning("cannot rename file '%s' to '%s'", path, new)


#: Outcome fields that say how an association ended, not what became of a file
_INTERNAL = ("peer_aborted", "peer_released", "association_lost", "context_id")


class Run:
    """One storescu run: the file loop over one or more associations, and its exit code."""

    def __init__(self, parsed: Parsed, log: logging.Logger) -> None:
        self.parsed = parsed
        self.log = log
        self.halt = not parsed.has("--no-halt")
        self.rename = parsed.winner("--no-rename", "--rename") == "--rename"
        self.repeat = network.int_option(parsed, "--repeat", 1, 1)
        self.window = network.int_option(parsed, "--async-window", DEFAULT_WINDOW, 1, MAX_WINDOW)
        self.outcomes: list[Outcome] = []
        self.bar = progress_bar([], 1, log)  # replaced by start() once the files are known
        self.started = 0
        self.total_files = 0
        self.unsuccessful = False
        self.last_status = 0
        level = log.getEffectiveLevel()
        self.dots = Dots(level == logging.INFO)
        decompress = {"--decompress-lossy": "lossy", "--decompress-never": "never"}.get(
            parsed.winner("--decompress-lossless", "--decompress-lossy", "--decompress-never") or "", "lossless"
        )
        proposed = proposal.from_options(parsed)
        self.proposed = proposed
        self.config: AssociationConfig | None = None  # -xf: read at start-up, profile used per association
        self.identity = None  # the user identity item, read at start-up
        self.tls: tls.TLSContexts | None = None  # built at start-up
        self.send_options = SendOptions(
            mode=_read_mode(parsed),
            uid_padding=parsed.has("--uid-padding"),
            prefer_deflate=proposed.preferred == proposal.DEFLATED,
            inventor=_inventor(parsed, log),
            transcoder=Transcoder(decompress, network.int_option(parsed, "--compression-level", 6, 0, 9)),
        )

    def start(self, files: list[str]) -> None:
        """The progress bar for all files of the run (all associations share it)."""
        self.total_files = len(files) * self.repeat
        self.bar = progress_bar(files, self.repeat, self.log)

    def exit_code(self) -> int:
        """Spec 4.1: with halting, an unsuccessful store gives the status' high byte (10 if none)."""
        if self.halt and self.unsuccessful:
            return (self.last_status >> 8) or 10
        return 0

    async def association(self, host: str, port: int, classes: list[str], files: list[str]) -> int | None:
        """Send ``files`` over one association proposing ``classes``; None to go on, else an
        exit code.  A file that changed while it was being sent costs its association (we
        abort it); with ``-nh`` the files after it go out on a new one."""
        while True:
            code, rest = await self._association(host, port, classes, files)
            if code is not None or not rest:
                return code
            self.log.info("Continuing with %d file(s) on a new association", len(rest))
            files = rest

    async def _association(
        self, host: str, port: int, classes: list[str], files: list[str]
    ) -> tuple[int | None, list[str]]:
        """One association: its exit code (None to go on) and the files left to send when
        it had to be aborted for a file that changed under us (``-nh``)."""
        parsed, log = self.parsed, self.log
        extra: dict = {"user_identity_rq": self.identity} if self.identity is not None else {}
        if self.window > 1:
            extra["async_ops"] = (self.window, 1)  # we invoke up to n stores, perform none
        if self.config is not None:
            try:
                profile = self.config.profile(parsed.values("--config-file")[1])
            except ConfigError as exc:
                log.critical("%s", exc)
                return 1, []
            contexts = profile.contexts
            extra |= {"roles": profile.roles, "extended": profile.extended}
        else:
            contexts = self.proposed.contexts(classes)
        if len(contexts) > MAX_CONTEXTS:
            log.error("Too many presentation contexts")
            log.critical("0006:0101 ASC Bad presentation context ID")
            return 1, []
        rq = build_request(
            network.ae_title(parsed, "--aetitle", "STORESCU"),
            network.ae_title(parsed, "--call", "ANY-SCP"),
            contexts,
            network.max_pdu(parsed),
            **extra,
        )
        dump_level = logging.INFO if parsed.has("--verbose-pc") else logging.DEBUG
        log.log(dump_level, "Request Parameters:\n%s", dumps.dump_association(rq, None, True))
        log.info("Requesting Association")
        if not contexts:
            log.critical(
                "Association Request Failed: 0006:0103 ASC Coding error in ASC_requestAssociation: missing presentation contexts"
            )
            return 1, []
        try:
            assoc = await Association.request(
                host,
                port,
                rq,
                network.timeouts(parsed),
                network.max_send_pdu(parsed),
                network.address_family(parsed),
                **self.tls.request_options,
            )
        except AssociationRejected as exc:
            log.critical("Association Rejected:\n%s", describe(exc))
            return 1, []
        except (DimseError, OSError) as exc:
            log.critical("Association Request Failed: %s", describe(exc))
            return 1, []
        log.log(
            dump_level,
            "Association Parameters Negotiated:\n%s",
            dumps.dump_association(rq, assoc.conn.accept_pdu, True),
        )
        if not assoc.contexts:
            log.critical("No Acceptable Presentation Contexts")
            await assoc.abort()
            return 1, []
        if identity.response_missing(self.identity, assoc.conn.accept_pdu):
            log.error("User Identity Negotiation failed: Positive response requested but none received")
            log.critical("0006:0108 ASC User Identification Negotiation failed")
            await assoc.abort()
            return 1, []
        log.info("Association Accepted (Max Send PDV: %d)", network.announced_max_pdv(assoc.conn))
        return await self._files(assoc, files)

    def _record(self, finished: list[Outcome], failure: Outcome | None) -> Outcome | None:
        """Book finished stores; returns the first one that ends the run (DCMTK's halting rule)."""
        for outcome in finished:
            self.outcomes.append(outcome)
            self.unsuccessful = not outcome.ok
            self.last_status = outcome.status or 0
            if self.rename:
                _rename(outcome.path, outcome.ok, self.log)
            if failure is None and outcome.error is not None:
                if self.halt or outcome.peer_aborted or outcome.peer_released or outcome.association_lost:
                    failure = outcome
        return failure

    async def _files(self, assoc: Association, files: list[str]) -> tuple[int | None, list[str]]:
        log = self.log
        failure: Outcome | None = None
        stopped_at = len(files)
        bar = self.bar
        size = min(assoc.operations_window, self.window)
        window = StoreWindow(assoc, size, log, self.dots) if size > 1 else None
        on_bytes = None if isinstance(bar, NoBar) else bar.update
        # with +rn a file may be renamed by the one before it: DCMTK then finds it gone, so
        # it is not opened ahead of its turn; invent mode logs what it invents as it reads a
        # file, and those lines belong after the previous file's response
        early = not self.rename and self.send_options.inventor is None
        lookahead = Lookahead(self.send_options) if early else None
        for index, path in enumerate(files):
            self.started += 1
            bar.set_description(f"file {self.started}/{self.total_files}", refresh=False)
            for turn in range(self.repeat):
                if self.halt and self.unsuccessful:
                    break
                if window is None:
                    following = (
                        path if turn + 1 < self.repeat else (files[index + 1] if index + 1 < len(files) else None)
                    )
                    finished = [
                        await send_file(
                            assoc, path, self.send_options, log, self.dots, on_bytes, False, lookahead, following
                        )
                    ]
                else:
                    finished = await window.submit(path, self.send_options, on_bytes)
                failure = self._record(finished, failure)
                if failure is not None:
                    break
            if failure is not None:
                stopped_at = index + 1
                break
        if lookahead is not None:
            lookahead.discard()
        if window is not None:
            failure = self._record(await window.finish(), failure)
        if failure is not None and (failure.peer_aborted or failure.peer_released):
            # the association is gone: with -nh DCMTK's release then fails (exit 1)
            log.info("Peer Aborted Association" if failure.peer_aborted else "Aborting Association")
            return (self.exit_code() if self.halt else 1), []
        if failure is not None and failure.association_lost:
            log.info("Aborting Association")  # done already: the peer has half a data set
            if self.halt:
                log.error("Store SCU Failed: %s", failure.error)
                return 1, []
            return None, [*(window.unanswered if window is not None else []), *files[stopped_at:]]
        if failure is not None:
            log.error("Store SCU Failed: %s", failure.error)
            log.info("Aborting Association")
            await assoc.abort()
            return 1, []
        failure = await end_association(assoc, self.parsed.has("--abort"), log)
        if failure is not None:
            log.error(
                "Association %s Failed: %s", "Abort" if self.parsed.has("--abort") else "Release", describe(failure)
            )
            return 1, []
        return None, []

    def write_report(self, path: str, exit_code: int) -> None:
        sent = [o for o in self.outcomes if o.ok]
        summary = {
            "files": len(self.outcomes),
            "succeeded": len(sent),
            "failed": len(self.outcomes) - len(sent),
            "bytes": sum(o.bytes for o in sent),
            "milliseconds": round(sum(o.milliseconds for o in self.outcomes), 3),
            "exit_code": exit_code,
        }
        records = [
            {**{k: v for k, v in asdict(o).items() if k not in _INTERNAL}, "ok": o.ok}
            for o in self.outcomes
        ]
        Path(path).write_text(json.dumps({"summary": summary, "files": records}, indent=2) + "\n")


async def storescu_main(parsed: Parsed) -> int:
    tls.handle_listings(parsed)
    log = configure(parsed, "storescu")
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    _check_dependencies(parsed, proposal.from_options(parsed))
    network.check_values(parsed)  # value checks happen before any work, as in DCMTK
    parallel = network.int_option(parsed, "--parallel", 1, 1, 64)
    identity.check(parsed)
    tls.check(parsed, "client")
    job = Run(parsed, log)
    try:
        job.identity = identity.request(parsed, log)
    except identity.IdentityError as exc:
        log.error("%s", exc)
        return 1
    if parsed.has("--config-file"):
        try:
            job.config = AssociationConfig(parsed.values("--config-file")[0])
        except ConfigError as exc:
            log.error("reading config file: %s", exc)
            return 1
    try:
        files = inputs.determine(
            parsed.params[2:],
            parsed.has("--scan-directories"),
            parsed.value("--scan-pattern"),
            parsed.winner("--no-recurse", "--recurse") == "--recurse",
            log,
        )
        if not files:
            raise InputError("no input files to be sent")
        files, classes = inputs.check(
            files, parsed.has("--required"), job.halt, job.send_options.mode, job.send_options.uid_padding, log
        )
    except InputError as exc:
        log.critical("%s", exc)
        return 1
    job.tls = tls.contexts(parsed, "client", log)  # after the input check, as in DCMTK
    if job.tls is None:
        return 1
    required = parsed.has("--required")
    if not required:
        classes = list(STORESCU_DEFAULT_CLASSES)
    batches = [classes]
    if (
        required
        and len(job.proposed.contexts(classes)) > MAX_CONTEXTS
        and parsed.winner("--multi-associations", "--no-multi-associations") != "--no-multi-associations"
    ):
        batches = _batches(classes, job.proposed)
    code: int | None = None
    job.start(files)
    class_of = {f: _class_of(f, job) for f in files} if len(batches) > 1 else {}  # read each file once
    for batch in batches:
        members = set(batch)
        batch_files = files if len(batches) == 1 else [f for f in files if class_of[f] in members]
        groups = [batch_files[i::parallel] for i in range(parallel) if batch_files[i::parallel]]
        codes = await asyncio.gather(*(job.association(host, port, batch, group) for group in groups or [[]]))
        code = next((c for c in codes if c is not None), None)
        if code is not None or (job.halt and job.unsuccessful):
            break
    job.bar.close()
    exit_code = job.exit_code() if code is None else code
    sent = [o for o in job.outcomes if o.ok]
    if job.outcomes:
        log.info(
            "Sent %d of %d files (%d bytes)%s",
            len(sent),
            len(job.outcomes),
            sum(o.bytes for o in sent),
            "" if len(sent) == len(job.outcomes) else f", {len(job.outcomes) - len(sent)} unsuccessful",
        )
    report = parsed.value("--report")
    if report:
        job.write_report(report, exit_code)
    job.tls.finish()
    return exit_code


def _class_of(path: str, job: Run) -> str:
    try:
        return inputs.read_sop_uids(path, job.send_options.mode, job.send_options.uid_padding)[0]
    except Exception:
        return ""


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, storescu_main)
