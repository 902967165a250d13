"""Machine-readable specifications of the two Utility Blocks, and the reference docs made from them.

A GNC Utility Block is documented as purpose, business process, data set and exchange mechanism (GCAP-6).
Half of that only people know: who sends which message to whom, under which Basel article, by when, what
the UN/CEFACT e-Basel (TMW) message is called, which WCO Data Model id a data element carries. That half is
the curated data below. The other half the models know: every element and attribute of every message, its
XSD type, cardinality, documentation and the Basel block its docstring names. :func:`build_specs` joins the
two; :func:`render` turns the result into ``utility_blocks/<ub>.json`` and ``docs/reference/<ub>.md``.

Run ``python -m tools.ubspec`` from the repository root after changing a model or the curated data; a test
regenerates both files and fails if the committed ones differ, and another holds every spec to its XSD.
Build-time code: it lives beside the package, not in it, so the wheel does not ship it.

The envelope and the transport replies (Receipt, Error) are not part of either Utility Block: each spec
carries them in a ``transport`` section (identical in both), so a spec is complete on its own. The
envelope's Body lists only the documents of the spec's own Utility Block.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picexchange import codes
from picexchange.codec import NSMAP, document_classes
from picexchange.errors import ConfigurationError
from picexchange.models.base import Binding, XmlModel, binding, namespace_of
from picexchange.models.envelope import Body, Envelope, Error, Receipt, UtilityBlock, utility_block_of
from tools.xsdgen import type_ref

__all__ = [
    "MESSAGES",
    "ROLES",
    "UTILITY_BLOCKS",
    "WCO_IDS",
    "Message",
    "Role",
    "Source",
    "Step",
    "UtilityBlockInfo",
    "WcoId",
    "WcoRef",
    "build_specs",
    "main",
    "render",
    "render_markdown",
]

Json = dict[str, Any]

NS_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_PREFIX: Mapping[str, str] = {**{uri: prefix for prefix, uri in NSMAP.items()}, NS_DSIG: "ds"}
_XS = "xs"
_GENERATED_BY = "python -m tools.ubspec"

# ================================================================================================ curated data


@dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    """A participant in the exchanges of a Utility Block.

    Attributes:
        id: short id used in process steps (``ca-export``).
        name: the role in words.
        description: what the role does in the exchange.

    """

    id: str
    name: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """A passage of a source document that says why a Utility Block exists.

    Attributes:
        ref: the line or action of the source (``GCAP-6``).
        document: the source document.
        quote: the passage, verbatim.

    """

    ref: str
    document: str
    quote: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of a Utility Block's business process: one message from one role to others.

    Attributes:
        message: the document sent (a ``MessageType`` value).
        sender: roles that send it.
        receivers: roles it is addressed to.
        copies: roles that receive a copy.
        basel: the Basel article or form blocks that govern the step, or ``—`` and why there are none.
        trigger: when the message is sent.
        deadline: the time limit the rules apply (the Convention's deadlines for this document), or None.

    """

    message: str
    sender: tuple[str, ...]
    receivers: tuple[str, ...]
    copies: tuple[str, ...] = ()
    basel: str
    trigger: str
    deadline: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """What people know of a message that its model does not say.

    Attributes:
        name: the document name (a ``MessageType`` value).
        tmw: the UN/CEFACT e-Basel (TMW) message it corresponds to, or None if there is none.

    """

    name: str
    tmw: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WcoId:
    """A WCO Data Model id and the evidence for it.

    Attributes:
        id: the id (``145``, ``D005``, ``68A`` for a class).
        name: the WCO name of the data element or class.
        source: the public source the id was read in.
        verify: True if the id itself could not be confirmed from a source.

    """

    id: str
    name: str
    source: str
    verify: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WcoRef:
    """The WCO Data Model id of one data element.

    Attributes:
        id: a key of :data:`WCO_IDS`.
        note: how the element maps to the id, where it is not one to one.
        verify: True if the mapping (not the id) is unconfirmed.

    """

    id: str
    note: str = ""
    verify: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UtilityBlockInfo:
    """The curated part of one Utility Block specification.

    Attributes:
        block: the Utility Block.
        title: its title.
        purpose: what it is for, in one paragraph.
        sources: the passages of the WCO plans it implements.
        roles: ids of the roles taking part, in :data:`ROLES`.
        steps: the business process, in order.

    """

    block: UtilityBlock
    title: str
    purpose: str
    sources: tuple[Source, ...]
    roles: tuple[str, ...]
    steps: tuple[Step, ...]


_GCAP = "WCO Green Customs Action Plan (seeds/004_f08faec3efcb80e2.txt)"
_RAP = "WCO Asia-Pacific Plastic Waste Project, Regional Action Plan, 31 May 2023 (seeds/000_7e9cb1846b692fed.txt)"
_GCAP_6 = Source(
    ref="GCAP-6",
    document=_GCAP,
    quote="Develop specific GNC Utility Blocks for transboundary movement of waste … Two UB Executive Summaries, "
    "namely for the exchange of PIC processes and of export data for Customs clearance purposes, were "
    "developed through the Mombasa workshop (ref. GCAP-5).",
)
_RAP_4_2 = Source(
    ref="Regional Action Plan, action 4.2",
    document=_RAP,
    quote="Developing specific Globally Networked Customs Utility Blocks with AP members for C2C data exchange "
    "related to the waste trade (e.g. licenses or notifications) to ensure interconnectivity (bilaterally) "
    "between SWs of exporting and importing Countries in AP.",
)
_RAP_3_1 = Source(
    ref="Regional Action Plan, action 3.1",
    document=_RAP,
    quote="Further developing the national and regional Single Window approach to harmonise electronic "
    "procedures related to plastic waste and plastic scrap import, including enhanced cooperation between "
    "Customs and other agencies, shared information and access to environmental permits, quota, PIC "
    "procedure and import/export certificates.",
)

#: Every role, by id.
ROLES: Mapping[str, Role] = {
    role.id: role
    for role in (
        Role(
            id="ca-export",
            name="Competent authority of the State of export",
            description="Notifies the States concerned on behalf of the exporter - notifier and receives their "
            "acknowledgements and decisions (Basel Art. 6(1)).",
        ),
        Role(
            id="ca-import",
            name="Competent authority of the State of import",
            description="Acknowledges the notification, may ask for more information, consents or objects "
            "(Art. 6(2)); passes on the facility's receipt and disposal certificate.",
        ),
        Role(
            id="ca-transit",
            name="Competent authority of a State of transit",
            description="Acknowledges the notification and consents or objects; a transit Party that waived "
            "written consent is deemed to consent after 60 days (Art. 6(4)).",
        ),
        Role(
            id="customs-export",
            name="Customs of the State of export",
            description="Accepts the export declaration of each shipment and sends its export data to the "
            "Customs of the State of import (offices of export and exit).",
        ),
        Role(
            id="customs-import",
            name="Customs of the State of import",
            description="Checks, before the goods arrive, that the shipment is covered by a valid consent; "
            "releases, holds, rejects or returns it (office of entry).",
        ),
        Role(
            id="single-window",
            name="Single Window",
            description="The national Single Window that runs the gateway for the authorities of its State: it "
            "signs, sends and receives the envelopes. The envelope's Sender and Receiver are Single Window or "
            "authority participant ids (CC:CODE).",
        ),
    )
}

#: What people know of each message: its UN/CEFACT e-Basel (TMW) counterpart.
MESSAGES: Mapping[str, Message] = {
    message.name: message
    for message in (
        Message(name="Notification", tmw="TMWNotificationSubmissionMessage"),
        Message(name="Acknowledgement", tmw="TMWNotificationAcknowledgementMessage"),
        Message(name="InformationRequest", tmw="TMWFurtherNotificationRequest"),
        Message(name="InformationResponse", tmw=None),
        Message(name="ConsentDecision", tmw="TMWNotificationDecisionMessage"),
        Message(name="ConsentWithdrawal", tmw=None),
        Message(name="MovementAnnouncement", tmw="TMWMovementAnnouncementMessage"),
        Message(name="NotificationCancellation", tmw="TMWCancellationMessage"),
        Message(name="ExportData", tmw=None),
        Message(name="ClearanceResult", tmw=None),
        Message(name="ShipmentReceipt", tmw="TMWCertificateOfWasteReceiptMessage"),
        Message(name="DisposalCertificate", tmw="TMWCertificateOfWasteRecoveryDisposalMessage"),
        Message(name="Receipt", tmw="TMWConfirmationOfMessageReceipt"),
        Message(name="Error", tmw=None),
    )
}

_ACK_DEADLINE = "3 working days after the notification is received (OECD/EU practice; default, per partner agreement)."
_CONSENT_DEADLINE = (
    "A State of transit that waived written consent is deemed to consent 60 days after acknowledgement "
    "(Basel Art. 6(4)). The consent is valid for at most 1 year (a general notification at most 12 months, "
    "Art. 6(8); 3 years for a pre-consented recovery facility)."
)

#: The curated part of each Utility Block.
UTILITY_BLOCKS: Mapping[UtilityBlock, UtilityBlockInfo] = {
    UtilityBlock.PIC: UtilityBlockInfo(
        block=UtilityBlock.PIC,
        title="Exchange of PIC processes",
        purpose="Carries the Basel Convention prior informed consent procedure between the competent "
        "authorities of the States of export, transit and import, through their Single Windows: the "
        "notification, acknowledgements, requests for information, consent decisions and their withdrawal, "
        "the prior announcement of each shipment and the cancellation of a notification. It is the first of "
        "the two GNC Utility Blocks for waste of GCAP-6 and gives the Single Window procedure of action 3.1 "
        "its machine-checkable messages.",
        sources=(_GCAP_6, _RAP_4_2, _RAP_3_1),
        roles=("ca-export", "ca-import", "ca-transit", "single-window"),
        steps=(
            Step(
                message="Notification",
                sender=("ca-export",),
                receivers=("ca-import", "ca-transit"),
                basel="Art. 6(1); V-A 1-18",
                trigger="Before any shipment: the State of export notifies the State of import and every State "
                "of transit.",
            ),
            Step(
                message="Acknowledgement",
                sender=("ca-import", "ca-transit"),
                receivers=("ca-export",),
                basel="Art. 6(2); V-A 19",
                trigger="On receipt of the notification; says whether it is duly completed.",
                deadline=_ACK_DEADLINE,
            ),
            Step(
                message="InformationRequest",
                sender=("ca-import", "ca-transit"),
                receivers=("ca-export",),
                basel="Art. 6(2), 6(4)",
                trigger="The notification is incomplete or the authority needs more information.",
            ),
            Step(
                message="InformationResponse",
                sender=("ca-export",),
                receivers=("ca-import", "ca-transit"),
                basel="Art. 6(2)",
                trigger="Answers an InformationRequest; goes to the authority that asked.",
                deadline="By the request's RespondBy date, when it gives one.",
            ),
            Step(
                message="ConsentDecision",
                sender=("ca-import", "ca-transit"),
                receivers=("ca-export",),
                copies=("ca-import", "ca-transit"),
                basel="Art. 6(2), 6(4), 6(8); V-A 20-21",
                trigger="After examining the notification: consent, consent with conditions, or objection; "
                "copied to the other States concerned.",
                deadline=_CONSENT_DEADLINE,
            ),
            Step(
                message="ConsentWithdrawal",
                sender=("ca-import", "ca-transit"),
                receivers=("ca-export",),
                copies=("ca-import", "ca-transit"),
                basel="— revokes a consent given under V-A 20; not a block of the Basel forms",
                trigger="A consent already given is withdrawn; no shipment may start under it from EffectiveFrom.",
            ),
            Step(
                message="MovementAnnouncement",
                sender=("ca-export",),
                receivers=("ca-import", "ca-transit"),
                basel="V-B 1-16",
                trigger="Before each shipment under a consented notification.",
            ),
            Step(
                message="NotificationCancellation",
                sender=("ca-export",),
                receivers=("ca-import", "ca-transit"),
                basel="— not a block of the Basel forms (UN/CEFACT e-Basel Cancellation)",
                trigger="The notifier withdraws the whole notification; no further shipment may start under it.",
            ),
        ),
    ),
    UtilityBlock.EXPORT: UtilityBlockInfo(
        block=UtilityBlock.EXPORT,
        title="Exchange of export data for Customs clearance purposes",
        purpose="Lets the Customs of the State of import check, before the goods arrive, that a waste "
        "shipment is covered by a valid consent: export Customs sends the export data of each shipment "
        "(declaration, notification number, goods items with HS and waste codes, masses, transport, "
        "containers and seals), import Customs answers with its clearance result, and the import side "
        "confirms receipt at the facility and completion of disposal or recovery. It is the second of the "
        "two GNC Utility Blocks for waste of GCAP-6: Customs-to-Customs exchange of waste-trade data between "
        "the Single Windows of exporting and importing countries (action 4.2).",
        sources=(_GCAP_6, _RAP_4_2),
        roles=("customs-export", "customs-import", "ca-export", "ca-import", "single-window"),
        steps=(
            Step(
                message="ExportData",
                sender=("customs-export",),
                receivers=("customs-import",),
                basel="V-B 1-14, 20",
                trigger="The export declaration of a shipment under a consented notification is accepted; "
                "sent before the goods arrive in the State of import.",
            ),
            Step(
                message="ClearanceResult",
                sender=("customs-import",),
                receivers=("customs-export",),
                basel="— Customs decision; not a block of the Basel forms",
                trigger="Import Customs has checked the shipment against the consent: released, held, "
                "rejected or returned.",
            ),
            Step(
                message="ShipmentReceipt",
                sender=("ca-import",),
                receivers=("ca-export",),
                basel="V-B 17-18; Art. 6(9)",
                trigger="The facility has received the shipment and accepted or rejected it.",
                deadline="Within 3 days of arrival.",
            ),
            Step(
                message="DisposalCertificate",
                sender=("ca-import",),
                receivers=("ca-export",),
                basel="V-B 19; Art. 6(9)",
                trigger="The facility has completed the disposal or recovery of the shipment.",
                deadline="Within 30 days of completion and at the latest 1 year after receipt of the waste.",
            ),
        ),
    ),
}

_ICS2 = "EU ICS2 HTI message tables v2.02 (IE3F14, IE3F15, IE3N02, IE3N09: WCO Name / WCO Id columns)"
_DS3 = "WCO Data Set version 3"
_REVIEW = "a domain review of the Basel forms against the WCO Data Model; not in the ICS2 tables read"

#: WCO Data Model ids used by the specs, each with the public source it was read in.
WCO_IDS: Mapping[str, WcoId] = {
    wco.id: wco
    for wco in (
        WcoId(id="006", name="Sequence number", source=f"{_DS3}; {_ICS2}"),
        WcoId(id="016", name="Unique consignment reference (UCR)", source=_DS3),
        WcoId(id="023", name="Goods declaration acceptance date", source=_DS3),
        WcoId(id="024", name="Exit date", source=_DS3),
        WcoId(id="064", name="Country(ies) of routing, coded", source=_ICS2),
        WcoId(id="126", name="Gross weight, item level", source=_ICS2),
        WcoId(id="137", name="Description of goods", source=_ICS2),
        WcoId(id="141", name="Type of packages identification, coded", source=_ICS2),
        WcoId(id="144", name="Number of packages", source=_ICS2),
        WcoId(id="145", name="Tariff code number", source="UBL 2 annotation 'WCO ID 145' (tariff code)"),
        WcoId(id="159", name="Equipment identification number", source=_ICS2),
        WcoId(id="165", name="Seal number", source=_ICS2),
        WcoId(id="239", name="Street and number/PO box", source=_ICS2),
        WcoId(id="240", name="Communication number", source=_ICS2),
        WcoId(id="241", name="City name", source=_ICS2),
        WcoId(id="242", name="Country, coded", source=_ICS2),
        WcoId(id="245", name="Postcode", source=_ICS2),
        WcoId(id="506", name="UN Dangerous Goods identifier (UNDG)", source=_ICS2),
        WcoId(
            id="68A",
            name="GovernmentAgencyGoodsItem (class)",
            source="WCO DM 3.6 export declaration samples (HMRC customs-declarations-stub)",
        ),
        WcoId(id="D005", name="Additional document reference number", source=_ICS2),
        WcoId(
            id="D014",
            name="Document reference number (of a declaration: its reference, the MRN)",
            source="a domain review; the CITES ePermit toolkit's WCO DM mapping uses D014 for an LPCO's id",
            verify=True,
        ),
        WcoId(id="D029", name="Response issuing date", source=_ICS2),
        WcoId(id="G004", name="Office of entry, coded", source=_ICS2),
        WcoId(id="L009", name="Place of loading", source=_REVIEW, verify=True),
        WcoId(id="L010", name="Place of loading, coded (UN/LOCODE, CL244)", source=_REVIEW, verify=True),
        WcoId(id="R012", name="Carrier identification", source=_ICS2),
        WcoId(id="R014", name="Consignee name", source=_ICS2),
        WcoId(id="R015", name="Consignee, coded", source=_ICS2),
        WcoId(
            id="R031", name="Exporter name", source="not found in the ICS2 tables or WCO Data Set v3 read", verify=True
        ),
        WcoId(
            id="R032",
            name="Exporter, coded",
            source="not found in the ICS2 tables or WCO Data Set v3 read",
            verify=True,
        ),
        WcoId(
            id="T006",
            name="Identification of means of transport crossing the border, coded",
            source=_REVIEW,
            verify=True,
        ),
        WcoId(
            id="T018",
            name="Type of identification of means of transport crossing the border, coded (EU CL750)",
            source=_REVIEW,
            verify=True,
        ),
        WcoId(id="T022", name="Mode of transport crossing the border, coded", source=_ICS2),
    )
}

_COMMUNICATION = "with communication type (WCO 253)"

#: The WCO id of a data element: by exact path, or by ``Class.field`` of the class that declares the field
#: (applies wherever that class is used). An exact path wins.
WCO_OF: Mapping[str, WcoRef] = {
    "Address.street": WcoRef(id="239"),
    "Address.city": WcoRef(id="241"),
    "Address.postal_code": WcoRef(id="245"),
    "Address.country": WcoRef(id="242"),
    "Party.telephone": WcoRef(id="240", note=f"{_COMMUNICATION} TE"),
    "Party.fax": WcoRef(id="240", note=f"{_COMMUNICATION} FX"),
    "Party.email": WcoRef(id="240", note=f"{_COMMUNICATION} EM"),
    "WasteIdentification.hs_code": WcoRef(id="145"),
    "WasteIdentification.un_number": WcoRef(id="506"),
    "ExportDeclaration.declaration_id": WcoRef(
        id="D014",
        verify=True,
        note="the declaration's document reference (MRN), not an LPCO id; not confirmed in a WCO Data Model table",
    ),
    "CustomsPassage.exit_date": WcoRef(id="024"),
    "CustomsPassage.entry_office": WcoRef(id="G004"),
    "ExportDeclaration.ucr": WcoRef(id="016"),
    "ExportDeclaration.accepted_on": WcoRef(id="023"),
    "Transport.mode": WcoRef(id="T022", note="Basel mode mapped to UN/ECE Rec 19: S→1, T→2, R→3, A→4, W→8"),
    "Transport.means_id": WcoRef(id="T006", note="the active means of transport; T026 is the passive one"),
    "Transport.means_id_type": WcoRef(
        id="T018",
        verify=True,
        note="the values are those of the EU list CL750 as recalled, not checked against the published list",
    ),
    "Transport.place_of_loading": WcoRef(id="L010"),
    "Transport.place_of_loading_name": WcoRef(id="L009"),
    "Container.id": WcoRef(id="159"),
    "Container.seal": WcoRef(id="165"),
    "GoodsItem.item_number": WcoRef(id="006"),
    "GoodsItem.hs_code": WcoRef(id="145"),
    "GoodsItem.description": WcoRef(id="137"),
    "GoodsItem.gross_mass": WcoRef(id="126"),
    "GoodsItem.rec21_package_type": WcoRef(
        id="141",
        note="the declarant's Rec 21 code; PackagingType keeps the Basel code (1-9), which has no WCO id because "
        "no function maps it to Rec 21",
    ),
    "GoodsItem.package_count": WcoRef(id="144"),
    "ClearanceResult.declaration_id": WcoRef(id="D014", verify=True, note="as ExportDeclaration/DeclarationId"),
    "ShipmentReceipt.declaration_id": WcoRef(id="D014", verify=True, note="as ExportDeclaration/DeclarationId"),
    "ClearanceResult.customs_office": WcoRef(id="G004", note="when the deciding office is the office of entry"),
    "ClearanceResult.decided_on": WcoRef(id="D029", verify=True, note="the clearance result read as a response"),
    "/ExportData/NotificationNumber": WcoRef(
        id="D005", note="the notification travels as an additional document; its type (D006) names it"
    ),
    "/ExportData/Exporter/Name": WcoRef(id="R031"),
    "/ExportData/Exporter/RegistrationNumber": WcoRef(id="R032"),
    "/ExportData/Consignee/Name": WcoRef(id="R014"),
    "/ExportData/Consignee/RegistrationNumber": WcoRef(id="R015"),
    "/ExportData/Carrier/RegistrationNumber": WcoRef(id="R012"),
    "/ExportData/StateConcerned/Country": WcoRef(id="064", note="the route's countries, in route order"),
    "/ExportData/GoodsItem": WcoRef(id="68A"),
}

#: Why a data element has no Basel block: by path prefix (the longest matching prefix wins).
NO_BASEL_BLOCK: Mapping[str, str] = {
    "/Envelope": "— envelope routing data; the Basel forms have no envelope",
    "/Receipt": "— transport receipt of the exchange; not on the Basel forms",
    "/Error": "— transport error reply; not on the Basel forms",
    "/ConsentWithdrawal": "— not a block of the Basel forms: revokes a consent given under V-A 20",
    "/NotificationCancellation": "— not a block of the Basel forms: the notifier withdraws the notification",
    "/ExportData/ExportDeclaration": "— Customs export declaration (WCO Data Model); not on the Basel forms",
    "/ExportData/Transport": "— Customs transport data at the border (WCO Data Model); not on the Basel forms",
    "/ShipmentReceipt/DeclarationId": "— Customs reference (WCO Data Model); links the receipt to the "
    "shipment's export declaration",
    "/ExportData/GoodsItem": "— goods item of the Customs declaration (WCO Data Model); not on the Basel forms",
    "/ClearanceResult": "— import Customs decision; not on the Basel forms",
}

_SIGNATURE_DOC = (
    "Enveloped XML signature (W3C XMLDSig) over the whole envelope by the sender; required on the wire. "
    "Its structure is the W3C schema's (xmldsig-core-schema.xsd) and is not repeated here."
)

_TRANSPORT_NOTE = (
    "The envelope and the transport replies are shared by both Utility Blocks and appear, identical, in both "
    "specs; the Body lists only the documents of this Utility Block. A Receipt or Error travels in an "
    "envelope of the Utility Block of the message it answers."
)

# ================================================================================================ derivation

# A reference opens a parenthesis or follows "; " in it: "(V-A 9; Annex V A item 16)". An example inside
# a list ("(xsd, V-A 6, ...)") is not a reference.
_BASEL_REF = re.compile(
    r"(?:(?<=\()|(?<=; ))(?:V-[AB] \d+[A-C]?(?:\([ivx]+\)|\([a-c]\))?(?:-\d+)?(?:, \d+(?:-\d+)?)*"
    r"|Annex V A item \d+"
    r"|(?:Basel )?Art\. \d+\(\d+\)(?:\([a-z]\))?(?:, \d+\(\d+\))*)"
)
_SINGLE_BLOCK = re.compile(r"V-(?P<annex>[AB]) (?P<block>\d+)(?P<rest>[A-C]?(?:\([ivx]+\)|\([a-c]\))?)")
_COMMON_MODULE = "picexchange.models.common"


def _clean(text: str) -> str:
    return " ".join(text.split())


def _first_paragraph(text: str | None) -> str:
    return _clean(inspect.cleandoc(text or "").split("\n\n")[0])


def _declaring_class(cls: type[XmlModel], field: str) -> type[XmlModel]:
    for klass in cls.__mro__:
        if field in klass.__dict__.get("__annotations__", {}):
            return klass
    return cls  # pragma: no cover - every field is declared somewhere in the MRO


def _own_refs(doc: str) -> list[str]:
    return [match.removeprefix("Basel ") for match in _BASEL_REF.findall(doc)]


def _basel(cls: type[XmlModel], item: Binding, path: str, context: str | None) -> str:
    """Return the Basel block of a data element, or ``—`` and the curated reason there is none.

    A field of a shared type (``models.common``: Party, Address, WasteIdentification ...) fills whichever
    block the element using it fills: the Party of ``/ExportData/Exporter`` is V-B 3, not the V-A 1-2, 8-10
    its docstring lists. A sub-item the shared field names (14(vii), 15(a)) is kept when the blocks agree.
    """
    own = _own_refs(item.doc)
    if _declaring_class(cls, item.field).__module__ == _COMMON_MODULE and context is not None:
        single = _SINGLE_BLOCK.fullmatch(own[0]) if len(own) == 1 else None
        outer = _SINGLE_BLOCK.fullmatch(context)
        if single and outer and single["block"] == outer["block"] and not outer["rest"]:
            return f"V-{outer['annex']} {single['block']}{single['rest']}"
        return context
    if own:
        return "; ".join(own)
    if context is not None:
        return context
    reasons = [prefix for prefix in NO_BASEL_BLOCK if path == prefix or path.startswith(prefix + "/")]
    if not reasons:
        raise ConfigurationError(f"{path}: no Basel block in its docstring and no reason in NO_BASEL_BLOCK")
    return NO_BASEL_BLOCK[max(reasons, key=len)]


def _wco(cls: type[XmlModel], item: Binding, path: str, used: set[str]) -> Json | None:
    key = path if path in WCO_OF else f"{_declaring_class(cls, item.field).__name__}.{item.field}"
    ref = WCO_OF.get(key)
    if ref is None:
        return None
    used.add(key)
    wco = WCO_IDS[ref.id]
    found: Json = {"id": wco.id, "name": wco.name, "source": wco.source, "verify": wco.verify or ref.verify}
    if ref.note:
        found["note"] = ref.note
    return found


def _cardinality(min_occurs: int, repeated: bool) -> str:
    if not repeated:
        return "1" if min_occurs else "?"
    return {0: "*", 1: "+"}.get(min_occurs, f"{min_occurs}..*")


def _values(item: Binding) -> Json:
    found: Json = {}
    if item.enum is not None:
        found["values"] = [str(member.value) for member in item.enum]
    elif item.facets is not None and item.facets.code_list is not None:
        found["code_list"] = item.facets.code_list
    elif item.facets is not None and item.facets.enumeration is not None:
        found["values"] = list(item.facets.enumeration)
    return found


def _row(cls: type[XmlModel], item: Binding, path: str, context: str | None, used: set[str]) -> Json:
    if item.kind == "attribute":
        kind = "attribute"
    elif item.model is not None and item.model.xml_root:
        kind = "document"
    elif item.model is not None and not any(b.kind == "text" for b in binding(item.model)):
        kind = "group"
    else:
        kind = "element"
    row: Json = {
        "path": path,
        "ns": _PREFIX[item.namespace] if item.namespace else None,
        "kind": kind,
        "type": type_ref(item),
        "cardinality": _cardinality(item.min_occurs, item.repeated),
        "basel": _basel(cls, item, path, context),
        "wco": _wco(cls, item, path, used),
    }
    row.update(_values(item))
    if item.model is not None and kind == "element":
        text = next(b for b in binding(item.model) if b.kind == "text")
        row["content"] = {"type": type_ref(text), "documentation": _clean(text.doc), **_values(text)}
    row["documentation"] = _clean(item.doc)
    return row


def _walk(
    cls: type[XmlModel], path: str, context: str | None, block: UtilityBlock | None, used: set[str]
) -> Iterator[Json]:
    for item in binding(cls):
        if item.kind == "text":
            continue  # the simple content of the element, described with it
        if cls is Body and item.model is not None and utility_block_of(item.model) not in (block, None):
            continue  # a Body in this Utility Block's envelope holds only its own documents
        where = f"{path}/@{item.local_name}" if item.kind == "attribute" else f"{path}/{item.local_name}"
        row = _row(cls, item, where, context, used)
        yield row
        if item.model is not None and not item.model.xml_root:
            inner = row["basel"] if not row["basel"].startswith("—") else None
            yield from _walk(item.model, where, inner, block, used)
    if cls is Envelope:
        yield {
            "path": f"{path}/Signature",
            "ns": "ds",
            "kind": "external",
            "type": "ds:SignatureType",
            "cardinality": "?",
            "basel": NO_BASEL_BLOCK["/Envelope"],
            "wco": None,
            "documentation": _SIGNATURE_DOC,
        }


def _message(cls: type[XmlModel], block: UtilityBlock | None, used: set[str]) -> Json:
    return {
        "name": cls.__name__,
        "element": f"{_PREFIX[namespace_of(cls)]}:{cls.__name__}",
        "title": _first_paragraph(cls.__doc__),
        "data_elements": list(_walk(cls, f"/{cls.__name__}", None, block, used)),
    }


def _classes() -> Mapping[str, type[XmlModel]]:
    return {cls.__name__: cls for cls in document_classes().values()}


def _spec(info: UtilityBlockInfo, used: set[str]) -> Json:
    classes = _classes()
    block = info.block
    own = [name for name, cls in classes.items() if utility_block_of(cls) is block]
    stepped = [step.message for step in info.steps]
    if sorted(own) != sorted(stepped) or len(set(stepped)) != len(stepped):
        raise ConfigurationError(
            f"UB {block.value}: the process must send each of its documents once: {sorted(own)} vs {stepped}"
        )
    for step in info.steps:
        for role in (*step.sender, *step.receivers, *step.copies):
            if role not in info.roles:
                raise ConfigurationError(f"UB {block.value}: step {step.message} names role {role} not in its roles")
    namespace = namespace_of(classes[own[0]])
    namespaces = {prefix: NSMAP[prefix] for prefix in ("env", _PREFIX[namespace], "cmn")}
    messages = []
    for step in info.steps:
        message = _message(classes[step.message], block, used)
        messages.append(
            {
                "name": message["name"],
                "element": message["element"],
                "title": message["title"],
                "from": list(step.sender),
                "to": list(step.receivers),
                "copies": list(step.copies),
                "basel": step.basel,
                "tmw": MESSAGES[step.message].tmw,
                "data_elements": message["data_elements"],
            }
        )
    replies = []
    for cls in (Receipt, Error):
        message = _message(cls, block, used)
        replies.append(
            {
                "name": message["name"],
                "element": message["element"],
                "title": message["title"],
                "from": "the receiver of a message",
                "to": "its sender",
                "tmw": MESSAGES[cls.__name__].tmw,
                "data_elements": message["data_elements"],
            }
        )
    return {
        "id": block.value,
        "namespace": namespace,
        "version": "1.0",
        "title": info.title,
        "schema": f"ub-{block.value}.xsd",
        "generated_by": f"{_GENERATED_BY} from the curated data in tools/ubspec.py and the models; do not edit by hand",
        "purpose": {
            "text": info.purpose,
            "sources": [{"ref": s.ref, "document": s.document, "quote": s.quote} for s in info.sources],
        },
        "namespaces": {**namespaces, "ds": NS_DSIG},
        "cardinality": {
            "1": "exactly one",
            "?": "zero or one",
            "*": "zero or more",
            "+": "one or more",
            "n..*": "n or more",
        },
        "roles": [
            {"id": role, "name": ROLES[role].name, "description": ROLES[role].description} for role in info.roles
        ],
        "process": [
            {
                "step": number,
                "message": step.message,
                "from": list(step.sender),
                "to": list(step.receivers),
                "copies": list(step.copies),
                "basel": step.basel,
                "when": step.trigger,
                "deadline": step.deadline,
            }
            for number, step in enumerate(info.steps, start=1)
        ],
        "messages": messages,
        "transport": {
            "note": _TRANSPORT_NOTE,
            "envelope": _message(Envelope, block, used),
            "replies": replies,
        },
    }


def build_specs() -> dict[str, Json]:
    """Return the specification of every Utility Block, by Utility Block id.

    Raises:
        ConfigurationError: the curated data does not fit the models (a document without a process step, a
            data element without Basel block or reason, a curated WCO mapping no element uses).

    """
    used: set[str] = set()
    specs = {block.value: _spec(UTILITY_BLOCKS[block], used) for block in UtilityBlock}
    stale = sorted(set(WCO_OF) - used)
    if stale:
        raise ConfigurationError(f"WCO_OF entries match no data element: {', '.join(stale)}")
    return specs


# ================================================================================================ markdown


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _roles(names: Sequence[str]) -> str:
    return ", ".join(names) if names else ""


def _wco_text(wco: Json | None) -> str:
    if wco is None:
        return ""
    text = f"{wco['id']} {wco['name']}"
    if wco.get("note"):
        text += f" ({wco['note']})"
    return text + (" **[verify]**" if wco["verify"] else "")


def _describe(row: Json) -> str:
    parts = [row["documentation"]]
    if "values" in row:
        parts.append("Values: " + ", ".join(f"`{value}`" for value in row["values"]) + ".")
    if "code_list" in row:
        listing = codes.code_list(row["code_list"])
        parts.append(f"Code list `{listing.id}` ({listing.title}).")
    content = row.get("content")
    if content is not None:
        extra = ""
        if "values" in content:
            extra = " Values: " + ", ".join(f"`{value}`" for value in content["values"]) + "."
        parts.append(f"Content `{content['type']}`: {content['documentation']}{extra}")
    return " ".join(parts)


def _elements(message: Json) -> list[str]:
    rows = [
        (
            f"`{row['path']}`",
            f"`{row['cardinality']}`",
            f"`{row['type']}`",
            row["basel"],
            _wco_text(row["wco"]),
            _describe(row),
        )
        for row in message["data_elements"]
    ]
    return _table(("Path", "Card.", "Type", "Basel", "WCO DM", "Description"), rows)


def render_markdown(spec: Json) -> str:
    """Return the reference page of one Utility Block specification, as Markdown."""
    out = [
        f"# UB `{spec['id']}` — {spec['title']}",
        "",
        f"> Generated by `{_GENERATED_BY}` from `utility_blocks/{spec['id']}.json`; do not edit by hand.",
        "",
        f"- Namespace: `{spec['namespace']}`, version {spec['version']}",
        f"- Schema: `schemas/{spec['schema']}` (inside the wheel: `picexchange/xsd/{spec['schema']}`)",
        "- Prefixes: " + ", ".join(f"`{prefix}` = `{uri}`" for prefix, uri in spec["namespaces"].items()),
        "- Cardinality: " + ", ".join(f"`{key}` {text}" for key, text in spec["cardinality"].items()),
        "- Basel: `V-A n` is block n of the notification document (Annex V-A), `V-B n` of the movement "
        "document (Annex V-B); `—` says why an element has no block. WCO ids marked **[verify]** are unconfirmed.",
        "",
        "## Purpose",
        "",
        spec["purpose"]["text"],
        "",
    ]
    for source in spec["purpose"]["sources"]:
        out += [f"> **{source['ref']}** ({source['document']}): “{source['quote']}”", ">"]
    out[-1] = ""
    out += ["## Roles", ""]
    out += _table(
        ("Role", "Name", "Description"), [(f"`{r['id']}`", r["name"], r["description"]) for r in spec["roles"]]
    )
    out += ["", "## Process", ""]
    out += _table(
        ("#", "Message", "From", "To", "Copies", "Basel", "When", "Deadline"),
        [
            (
                step["step"],
                f"[{step['message']}](#{step['message'].lower()})",
                _roles(step["from"]),
                _roles(step["to"]),
                _roles(step["copies"]),
                step["basel"],
                step["when"],
                step["deadline"] or "",
            )
            for step in spec["process"]
        ],
    )
    out += ["", "## Messages", ""]
    out += _table(
        ("Message", "Element", "From → to", "Basel", "UN/CEFACT e-Basel (TMW)", "Data elements"),
        [
            (
                f"[{m['name']}](#{m['name'].lower()})",
                f"`{m['element']}`",
                f"{_roles(m['from'])} → {_roles(m['to'])}",
                m["basel"],
                f"`{m['tmw']}`" if m["tmw"] else "—",
                len(m["data_elements"]),
            )
            for m in spec["messages"]
        ],
    )
    for message in spec["messages"]:
        out += ["", f"### {message['name']}", "", message["title"], ""]
        out += _elements(message)
    transport = spec["transport"]
    out += ["", "## Envelope and transport replies", "", transport["note"], ""]
    envelope = transport["envelope"]
    out += [f"### {envelope['name']}", "", envelope["title"], ""]
    out += _elements(envelope)
    for reply in transport["replies"]:
        tmw = f" UN/CEFACT e-Basel counterpart: `{reply['tmw']}`." if reply["tmw"] else ""
        out += ["", f"### {reply['name']}", "", f"{reply['title']} From {reply['from']} to {reply['to']}.{tmw}", ""]
        out += _elements(reply)
    return "\n".join(out) + "\n"


# ================================================================================================ files


def _json(spec: Json) -> str:
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Return every generated file's text, by path relative to the repository root."""
    files: dict[str, str] = {}
    for block_id, spec in build_specs().items():
        files[f"utility_blocks/{block_id}.json"] = _json(spec)
        files[f"docs/reference/{block_id}.md"] = render_markdown(spec)
    return files


def main(argv: list[str] | None = None) -> int:
    """Write the Utility Block specs and reference docs into the repository (the directory given, or cwd)."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path.cwd()
    if not (root / "pyproject.toml").is_file():
        print(f"error: {root} is not the repository root (no pyproject.toml)", file=sys.stderr)
        return 2
    for name, text in render().items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
