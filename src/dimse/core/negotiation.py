"""Association negotiation as pure functions: build a request, answer one.

The acceptor side follows DCMTK's rule: for each proposed context whose abstract syntax
we support, take the first transfer syntax of *our* preference list that was proposed.
Each context ID is answered once (a repeated ID is ignored); an even ID, which PS3.8 does
not allow, is refused with "no reason (provider rejection)".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import codes
from ..uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from .pdu import (
    ABSTRACT_SYNTAX_NOT_SUPPORTED,
    ACCEPTANCE,
    APPLICATION_CONTEXT,
    NO_REASON,
    TRANSFER_SYNTAXES_NOT_SUPPORTED,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelection,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
)
from .record import Record

MAX_CONTEXTS = 128


def user_information(max_pdu: int, **extra: Any) -> UserInformation:
    """Our user information item: maximum length, implementation class and version."""
    return UserInformation(
        max_length=max_pdu,
        implementation_class_uid=IMPLEMENTATION_CLASS_UID,
        implementation_version_name=IMPLEMENTATION_VERSION_NAME,
        **extra,
    )


def build_request(
    calling_ae: str,
    called_ae: str,
    contexts: Sequence[tuple[str, Sequence[str]]],
    max_pdu: int = 16384,
    **user_info_extra: Any,
) -> AssociateRQ:
    """An A-ASSOCIATE-RQ proposing ``(abstract syntax, [transfer syntaxes])`` pairs in order,
    with context IDs 1, 3, 5 ..."""
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(f"Too many presentation contexts ({len(contexts)} > {MAX_CONTEXTS})")
    proposed = [
        PresentationContextRQ(2 * i + 1, abstract, list(syntaxes)) for i, (abstract, syntaxes) in enumerate(contexts)
    ]
    return AssociateRQ(called_ae, calling_ae, proposed, user_information(max_pdu, **user_info_extra))


class AcceptorPolicy(Record):
    """What an acceptor agrees to.

    ``transfer_syntaxes`` maps each supported abstract syntax to its transfer syntaxes in
    order of preference; ``any_abstract`` (if given) is used for abstract syntaxes not in the
    map (DCMTK's promiscuous mode).  ``check_called_ae`` rejects a request whose called AE
    title is not ``ae_title``.
    """

    __slots__ = (
        "ae_title",
        "transfer_syntaxes",
        "any_abstract",
        "check_called_ae",
        "max_pdu",
        "async_ops",
        "vetting",
        "identity",
    )

    def __init__(  # noqa: PLR0913 (what an acceptor agrees to)
        self,
        ae_title: str = "ANY-SCP",
        transfer_syntaxes: Mapping[str, Sequence[str]] | None = None,
        any_abstract: Sequence[str] | None = None,
        check_called_ae: bool = False,
        max_pdu: int = 16384,
        async_ops: tuple[int, int] = (1, 1),
        vetting: Callable[[AssociateRQ], AssociateRJ | None] | None = None,
        identity: Callable[[UserIdentityRQ], bytes | bool | None] | None = None,
    ) -> None:
        self.ae_title = ae_title
        self.transfer_syntaxes: Mapping[str, Sequence[str]] = {} if transfer_syntaxes is None else transfer_syntaxes
        self.any_abstract = any_abstract
        self.check_called_ae = check_called_ae
        self.max_pdu = max_pdu
        self.async_ops = async_ops
        #: last word on a request that negotiated fine: return a reject to refuse it
        self.vetting = vetting
        #: user identity check: False rejects the association, bytes is the server response
        #: (sent when the requestor asked for a positive response), True or None accepts
        #: without one
        self.identity = identity


def _reject(result: codes.RejectResult, source: codes.RejectSource, reason: codes.RejectReason) -> AssociateRJ:
    return AssociateRJ(result, source, reason)


def negotiate(rq: AssociateRQ, policy: AcceptorPolicy) -> AssociateAC | AssociateRJ:
    """Answer an A-ASSOCIATE-RQ under ``policy``."""
    refusal = _refusal(rq, policy)
    if refusal is not None:
        return refusal
    identity_answer = None
    if policy.identity is not None and rq.user_info.user_identity_rq is not None:
        identity_answer = policy.identity(rq.user_info.user_identity_rq)
        if identity_answer is False:
            return _reject(codes.REJECT_PERMANENT, codes.SOURCE_USER, codes.REASON_NO_REASON)
    answers, accepted = _answer_contexts(rq.contexts, policy)
    extra = _user_info_answer(rq.user_info, policy, accepted, identity_answer)
    return AssociateAC(rq.called_ae, rq.calling_ae, answers, user_information(policy.max_pdu, **extra))


def _refusal(rq: AssociateRQ, policy: AcceptorPolicy) -> AssociateRJ | None:
    """The reject for a request refused as a whole, before its contexts are looked at."""
    if not rq.protocol_version & 1:
        return _reject(codes.REJECT_PERMANENT, codes.SOURCE_ACSE, codes.REASON_PROTOCOL_VERSION)
    if rq.application_context != APPLICATION_CONTEXT:
        return _reject(codes.REJECT_PERMANENT, codes.SOURCE_USER, codes.REASON_APP_CONTEXT)
    if policy.check_called_ae and rq.called_ae != policy.ae_title:
        return _reject(codes.REJECT_PERMANENT, codes.SOURCE_USER, codes.REASON_CALLED_AE)
    if policy.vetting is not None:
        return policy.vetting(rq)
    return None


def _answer_contexts(
    contexts: Sequence[PresentationContextRQ], policy: AcceptorPolicy
) -> tuple[list[PresentationContextAC], set[str]]:
    """One answer per proposed context ID (DCMTK's rule: our preference order decides), and
    the abstract syntaxes accepted."""
    answers: list[PresentationContextAC] = []
    accepted: set[str] = set()
    seen: set[int] = set()
    for ctx in contexts:
        if ctx.context_id in seen:  # a repeated ID: only its first context gets an answer
            continue
        seen.add(ctx.context_id)
        answer = _answer_context(ctx, policy)
        if answer.result == ACCEPTANCE:
            accepted.add(ctx.abstract_syntax)
        answers.append(answer)
    return answers, accepted


def _answer_context(ctx: PresentationContextRQ, policy: AcceptorPolicy) -> PresentationContextAC:
    ours = policy.transfer_syntaxes.get(ctx.abstract_syntax, policy.any_abstract)
    # a refused context still carries one transfer syntax sub-item (PS3.8 table 9-18),
    # which the requestor must not test
    placeholder = ctx.transfer_syntaxes[0] if ctx.transfer_syntaxes else ""
    if not ctx.context_id & 1:  # PS3.8 9.3.2.2: IDs are odd
        return PresentationContextAC(ctx.context_id, NO_REASON, placeholder)
    if ours is None:
        return PresentationContextAC(ctx.context_id, ABSTRACT_SYNTAX_NOT_SUPPORTED, placeholder)
    chosen = next((ts for ts in ours if ts in ctx.transfer_syntaxes), None)
    if chosen is None:
        return PresentationContextAC(ctx.context_id, TRANSFER_SYNTAXES_NOT_SUPPORTED, placeholder)
    return PresentationContextAC(ctx.context_id, ACCEPTANCE, chosen)


def _user_info_answer(
    theirs: UserInformation, policy: AcceptorPolicy, accepted: set[str], identity_answer: bytes | bool | None
) -> dict[str, Any]:
    """Our user information sub-items beyond the maximum length and implementation: the
    asynchronous operations window, the roles, the user identity response."""
    extra: dict[str, Any] = {}
    if theirs.async_ops is not None:
        extra["async_ops"] = tuple(
            min(a, b) if a and b else (a or b) for a, b in zip(theirs.async_ops, policy.async_ops, strict=False)
        )
    # we act as SCP only: a requestor's SCU role is granted, a requested SCP role is not
    # (one answer per SOP class, however often a peer repeats the item)
    roles = {r.sop_class: r for r in theirs.roles if r.sop_class in accepted}
    extra["roles"] = [RoleSelection(r.sop_class, r.scu_role, False) for r in roles.values()]
    identity = theirs.user_identity_rq
    if isinstance(identity_answer, bytes) and identity is not None and identity.positive_response_requested:
        extra["user_identity_ac"] = UserIdentityAC(identity_answer)
    return extra
