"""The French e-invoicing lifecycle (AFNOR XP Z12-012 V1.4): statuses, reasons, actions, transitions.

Where each list comes from (paths relative to ``../shared/corpus/fr/``):

* **Status codes** (:class:`Status`): the 18 codes the platform handles, a subset of the
  list of ``custom:is-valid-invoice-status-code`` (BR-FR-CDV-CL-06, MDT-105) in
  ``cdar/schematron/BR-FR-CDV-Schematron-CDAR.sch`` (V1.4.0.03). French labels are the
  wording of ``docs/annex-b/XP_Z12-014_CAS_USAGE_Annexe_B_V1.4.pdf`` §1.1-1.2 and of the
  MDT-106 values of the official examples in ``cdar/examples/``; English labels are
  those of the English edition (``XP_Z12-014_CAS_USAGE_Annexe_B_V1.4_EN.pdf``: Submitted,
  Issued, Received, Made available, Taken, Approved, Partially Approved, Disputed,
  Suspended, Completed, Refused, Payment sent, Payment Received, Rejected, Canceled),
  except 214, 221 and 501, which it does not name (ours: Endorsed, Routing error,
  Inadmissible).
* **Reason codes** (:class:`ReasonCode`): the closed list of
  ``custom:is-valid-status-reason-code`` (BR-FR-CDV-CL-09, MDT-113), in the schematron's
  order. **Allowed per status** (:data:`REASONS_BY_STATUS`): the asserts
  ``BR-FR-CDV-CL-09_MDT-113_{200,206,207,208,210,210B2G,213,221,501}`` of the same file
  (``SOURCES.md`` tabulates them). Statuses without such an assert accept any code of
  the closed list, exactly as the schematron does. **Mandatory reason** for 206, 207,
  208, 210, 213 and 501: BR-FR-CDV-15.
  The reason *labels* are not in the corpus: AFNOR publishes them in XP Z12-012 Annexe A
  ("Tableau des motifs de statuts"), which is not part of it. The French labels are
  those of Annexe A as reproduced by public implementations (Akretion's Odoo
  ``fr.einvoicing.event.detail`` and the Chorus Pro refusal list); the two labels that
  none of them gives (``RETRAIT_MAN_SERV``, ``IRR_NOM_F``) are marked "libellé non publié"
  and described from the code. Labels are for people; only codes are exchanged.
* **Action codes** (:class:`ActionCode`): ``custom:is-valid-invoice-action-code``
  (BR-FR-CDV-CL-10, MDT-121). The labels of NIN and CNF are the MDT-122 texts of
  ``cdar/examples/UC4_...`` and ``UC5_...``; the others come from the same public
  reproductions of Annexe A.
* **Characteristic type codes** (:class:`CharacteristicType`): BR-FR-CDV-CL-11 (MDT-207).
  MEN (amount cashed incl. VAT, with its VAT rate, BR-FR-CDV-14) and MPA (amount paid)
  are described in ``XP_Z12-012_Annexe_B_EXEMPLES_V1.4.pdf`` §1.2.
* **Transitions** (:func:`can_transition`): XP Z12-014 Annexe B §1.1-1.2. Transmission
  statuses follow each other in order (Déposée or Rejetée, Émise, Reçue or Rejetée, Mise
  à disposition); Rejetée is terminal; processing statuses "peuvent intervenir à tout
  moment et dans n'importe quel ordre" once the invoice is made available (Suspendue
  "puis" Complétée); Refusée is terminal for every mandatory status; Annulée closes the
  lifecycle. Irrecevable (501) and Erreur de routage (221) are platform verdicts on a
  file that never entered a lifecycle, hence terminal too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.errors import ErrorCode, InputRejected


class Status(StrEnum):
    """Lifecycle status codes (MDT-105) the platform sets or receives."""

    DEPOSEE = "200"
    EMISE = "201"
    RECUE = "202"
    MISE_A_DISPOSITION = "203"
    PRISE_EN_CHARGE = "204"
    APPROUVEE = "205"
    APPROUVEE_PARTIELLEMENT = "206"
    EN_LITIGE = "207"
    SUSPENDUE = "208"
    COMPLETEE = "209"
    REFUSEE = "210"
    PAIEMENT_TRANSMIS = "211"
    ENCAISSEE = "212"
    REJETEE = "213"
    VISEE = "214"
    ANNULEE = "220"
    ERREUR_DE_ROUTAGE = "221"
    IRRECEVABLE = "501"

    @property
    def label_fr(self) -> str:
        """French label, as in XP Z12-014."""
        return _STATUS_LABELS[self][0]

    @property
    def label_en(self) -> str:
        """English label, as in the English edition of XP Z12-014 Annexe B."""
        return _STATUS_LABELS[self][1]

    @property
    def is_transmission(self) -> bool:
        """True for statuses set by platforms while carrying the file (CDAR phase 305)."""
        return self in TRANSMISSION_STATUSES


_STATUS_LABELS: dict[Status, tuple[str, str]] = {
    Status.DEPOSEE: ("Déposée", "Submitted"),
    Status.EMISE: ("Émise", "Issued"),
    Status.RECUE: ("Reçue", "Received"),
    Status.MISE_A_DISPOSITION: ("Mise à disposition", "Made available"),
    Status.PRISE_EN_CHARGE: ("Prise en charge", "Taken"),
    Status.APPROUVEE: ("Approuvée", "Approved"),
    Status.APPROUVEE_PARTIELLEMENT: ("Approuvée partiellement", "Partially approved"),
    Status.EN_LITIGE: ("En litige", "Disputed"),
    Status.SUSPENDUE: ("Suspendue", "Suspended"),
    Status.COMPLETEE: ("Complétée", "Completed"),
    Status.REFUSEE: ("Refusée", "Refused"),
    Status.PAIEMENT_TRANSMIS: ("Paiement transmis", "Payment sent"),
    Status.ENCAISSEE: ("Encaissée", "Payment received"),
    Status.REJETEE: ("Rejetée", "Rejected"),
    Status.VISEE: ("Visée", "Endorsed"),
    Status.ANNULEE: ("Annulée", "Canceled"),
    Status.ERREUR_DE_ROUTAGE: ("Erreur de routage", "Routing error"),
    Status.IRRECEVABLE: ("Irrecevable", "Inadmissible"),
}

#: Statuses of the transmission phase (CDAR MDT-77 = 305), set by platforms.
TRANSMISSION_STATUSES: frozenset[Status] = frozenset(
    {
        Status.DEPOSEE,
        Status.EMISE,
        Status.RECUE,
        Status.MISE_A_DISPOSITION,
        Status.REJETEE,
        Status.ERREUR_DE_ROUTAGE,
        Status.IRRECEVABLE,
    }
)

#: Processing statuses (CDAR MDT-77 = 23) that may follow each other in any order.
PROCESSING_STATUSES: frozenset[Status] = frozenset(
    {
        Status.PRISE_EN_CHARGE,
        Status.APPROUVEE,
        Status.APPROUVEE_PARTIELLEMENT,
        Status.EN_LITIGE,
        Status.SUSPENDUE,
        Status.PAIEMENT_TRANSMIS,
        Status.ENCAISSEE,
        Status.VISEE,
    }
)

#: Statuses after which nothing may follow.
TERMINAL_STATUSES: frozenset[Status] = frozenset(
    {Status.REJETEE, Status.IRRECEVABLE, Status.ERREUR_DE_ROUTAGE, Status.ANNULEE}
)

#: The "obligatoires" statuses transmitted to the PPF data hub (XP Z12-014 §1.1).
MANDATORY_STATUSES: frozenset[Status] = frozenset(
    {Status.DEPOSEE, Status.REJETEE, Status.REFUSEE, Status.ENCAISSEE}
)

#: BR-FR-CDV-15: a reason code (MDT-113) is required for these statuses.
REASON_REQUIRED: frozenset[Status] = frozenset(
    {
        Status.APPROUVEE_PARTIELLEMENT,
        Status.EN_LITIGE,
        Status.SUSPENDUE,
        Status.REFUSEE,
        Status.REJETEE,
        Status.IRRECEVABLE,
    }
)

#: Statuses that carry an amount: 212 the amount cashed (MEN, BR-FR-CDV-14), 211 the amount paid (MPA).
AMOUNT_REQUIRED: frozenset[Status] = frozenset({Status.ENCAISSEE})
AMOUNT_ALLOWED: frozenset[Status] = frozenset({Status.ENCAISSEE, Status.PAIEMENT_TRANSMIS})


class ReasonCode(StrEnum):
    """Status reason codes (MDT-113), the closed list of BR-FR-CDV-CL-09."""

    RETRAIT_MAN_SERV = "RETRAIT_MAN_SERV"
    ST_CT_NON_DECLAR = "ST_CT_NON_DECLAR"
    SUPPR_COMP_AVOIR = "SUPPR_COMP_AVOIR"
    TRANSF_PMNT_REGIE = "TRANSF_PMNT_REGIE"
    CONTACT_ACHTR = "CONTACT_ACHTR"
    NON_TRANSMISE = "NON_TRANSMISE"
    JUSTIF_ABS = "JUSTIF_ABS"
    ROUTAGE_ERR = "ROUTAGE_ERR"
    AUTRE = "AUTRE"
    COORD_BANC_ERR = "COORD_BANC_ERR"
    TX_TVA_ERR = "TX_TVA_ERR"
    MONTANTTOTAL_ERR = "MONTANTTOTAL_ERR"
    CALCUL_ERR = "CALCUL_ERR"
    NON_CONFORME = "NON_CONFORME"
    DOUBLON = "DOUBLON"
    DEST_INC = "DEST_INC"
    DEST_ERR = "DEST_ERR"
    TRANSAC_INC = "TRANSAC_INC"
    EMMET_INC = "EMMET_INC"
    CONTRAT_TERM = "CONTRAT_TERM"
    DOUBLE_FACT = "DOUBLE_FACT"
    CMD_ERR = "CMD_ERR"
    ADR_ERR = "ADR_ERR"
    SIRET_ERR = "SIRET_ERR"
    CODE_ROUTAGE_ERR = "CODE_ROUTAGE_ERR"
    REF_CT_ABSENT = "REF_CT_ABSENT"
    REF_ERR = "REF_ERR"
    PU_ERR = "PU_ERR"
    REM_ERR = "REM_ERR"
    QTE_ERR = "QTE_ERR"
    ART_ERR = "ART_ERR"
    MODPAI_ERR = "MODPAI_ERR"
    QUALITE_ERR = "QUALITE_ERR"
    LIVR_INCOMP = "LIVR_INCOMP"
    REJ_SEMAN = "REJ_SEMAN"
    REJ_UNI = "REJ_UNI"
    REJ_COH = "REJ_COH"
    REJ_ADR = "REJ_ADR"
    REJ_CONT_B2G = "REJ_CONT_B2G"
    REJ_REF_PJ = "REJ_REF_PJ"
    REJ_ASS_PJ = "REJ_ASS_PJ"
    IRR_VIDE_F = "IRR_VIDE_F"
    IRR_TYPE_F = "IRR_TYPE_F"
    IRR_SYNTAX = "IRR_SYNTAX"
    IRR_TAILLE_PJ = "IRR_TAILLE_PJ"
    IRR_NOM_PJ = "IRR_NOM_PJ"
    IRR_VID_PJ = "IRR_VID_PJ"
    IRR_EXT_DOC = "IRR_EXT_DOC"
    IRR_TAILLE_F = "IRR_TAILLE_F"
    IRR_ANTIVIRUS = "IRR_ANTIVIRUS"
    IRR_NOM_F = "IRR_NOM_F"

    @property
    def label_fr(self) -> str:
        """French label (XP Z12-012 Annexe A wording, see the module docstring)."""
        return _REASON_LABELS[self][0]

    @property
    def label_en(self) -> str:
        """English label."""
        return _REASON_LABELS[self][1]


_REASON_LABELS: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.RETRAIT_MAN_SERV: (
        "Retrait (B2G, libellé non publié dans le corpus)",
        "Withdrawal (B2G, label not published in the corpus)",
    ),
    ReasonCode.ST_CT_NON_DECLAR: (
        "Sous-traitant ou cotraitant non déclaré",
        "Undeclared subcontractor or co-contractor",
    ),
    ReasonCode.SUPPR_COMP_AVOIR: (
        "Suppression pour compensation d'avoirs",
        "Removed to offset credit notes",
    ),
    ReasonCode.TRANSF_PMNT_REGIE: (
        "Transfert pour paiement en régie",
        "Transferred for payment by the public cashier",
    ),
    ReasonCode.CONTACT_ACHTR: ("Autres : contacter votre acheteur", "Other: contact your buyer"),
    ReasonCode.NON_TRANSMISE: (
        "Destinataire non connecté",
        "Recipient not connected (not transmitted)",
    ),
    ReasonCode.JUSTIF_ABS: (
        "Justificatif absent ou insuffisant",
        "Supporting document missing or insufficient",
    ),
    ReasonCode.ROUTAGE_ERR: ("Erreur de routage", "Routing error"),
    ReasonCode.AUTRE: ("Autre", "Other"),
    ReasonCode.COORD_BANC_ERR: ("Erreur de coordonnées bancaires", "Incorrect bank details"),
    ReasonCode.TX_TVA_ERR: ("Taux de TVA erroné", "Incorrect VAT rate"),
    ReasonCode.MONTANTTOTAL_ERR: ("Montant total erroné", "Incorrect total amount"),
    ReasonCode.CALCUL_ERR: ("Erreur de calcul de la facture", "Invoice calculation error"),
    ReasonCode.NON_CONFORME: ("Mention légale manquante", "Missing legal mention"),
    ReasonCode.DOUBLON: (
        "Facture en doublon (déjà émise / reçue)",
        "Duplicate invoice (already issued / received)",
    ),
    ReasonCode.DEST_INC: ("Destinataire inconnu", "Unknown recipient"),
    ReasonCode.DEST_ERR: ("Erreur de destinataire", "Wrong recipient"),
    ReasonCode.TRANSAC_INC: ("Transaction inconnue", "Unknown transaction"),
    ReasonCode.EMMET_INC: ("Émetteur inconnu", "Unknown issuer"),
    ReasonCode.CONTRAT_TERM: ("Contrat terminé", "Contract ended"),
    ReasonCode.DOUBLE_FACT: (
        "Déjà facturé sur une autre facture",
        "Already invoiced on another invoice",
    ),
    ReasonCode.CMD_ERR: (
        "N° de commande incorrect ou manquant",
        "Purchase order number incorrect or missing",
    ),
    ReasonCode.ADR_ERR: (
        "Adresse de facturation électronique erronée",
        "Incorrect electronic invoicing address",
    ),
    ReasonCode.SIRET_ERR: ("SIRET erroné ou absent", "SIRET incorrect or missing"),
    ReasonCode.CODE_ROUTAGE_ERR: (
        "Code routage absent ou erroné",
        "Routing code missing or incorrect",
    ),
    ReasonCode.REF_CT_ABSENT: (
        "Référence contractuelle nécessaire pour le traitement de la facture manquante",
        "Contract reference needed to process the invoice is missing",
    ),
    ReasonCode.REF_ERR: ("Référence incorrecte", "Incorrect reference"),
    ReasonCode.PU_ERR: ("Prix unitaires incorrects", "Incorrect unit prices"),
    ReasonCode.REM_ERR: ("Remise erronée", "Incorrect discount"),
    ReasonCode.QTE_ERR: ("Quantité facturée incorrecte", "Incorrect invoiced quantity"),
    ReasonCode.ART_ERR: ("Article facturé incorrect", "Incorrect invoiced item"),
    ReasonCode.MODPAI_ERR: ("Modalités de paiement incorrectes", "Incorrect payment terms"),
    ReasonCode.QUALITE_ERR: (
        "Qualité d'article livré incorrecte",
        "Incorrect quality of the delivered item",
    ),
    ReasonCode.LIVR_INCOMP: ("Problème de livraison", "Delivery problem"),
    ReasonCode.REJ_SEMAN: ("Rejet pour erreur sémantique", "Rejected: semantic error"),
    ReasonCode.REJ_UNI: ("Rejet sur contrôle unicité", "Rejected: uniqueness check"),
    ReasonCode.REJ_COH: (
        "Rejet sur contrôle cohérence de données",
        "Rejected: data consistency check",
    ),
    ReasonCode.REJ_ADR: ("Rejet sur contrôle d'adressage", "Rejected: addressing check"),
    ReasonCode.REJ_CONT_B2G: (
        "Rejet sur contrôles métier B2G",
        "Rejected: B2G business checks",
    ),
    ReasonCode.REJ_REF_PJ: ("Rejet sur référence de PJ", "Rejected: attachment reference"),
    ReasonCode.REJ_ASS_PJ: (
        "Rejet sur erreur d'association de la PJ",
        "Rejected: attachment association error",
    ),
    ReasonCode.IRR_VIDE_F: (
        "Contrôle de non vide sur les fichiers du flux",
        "Empty file in the flow",
    ),
    ReasonCode.IRR_TYPE_F: (
        "Contrôle de type et extension des fichiers du flux",
        "File type or extension not accepted",
    ),
    ReasonCode.IRR_SYNTAX: (
        "Contrôle syntaxique des fichiers du flux",
        "File syntax check failed",
    ),
    ReasonCode.IRR_TAILLE_PJ: (
        "Contrôle de taille des PJ de chaque fichier du flux",
        "Attachment too large",
    ),
    ReasonCode.IRR_NOM_PJ: (
        "Contrôle du nom des PJ de chaque fichier du flux (absence de caractères interdits)",
        "Attachment name contains forbidden characters",
    ),
    ReasonCode.IRR_VID_PJ: (
        "Contrôle de PJ non vide de chaque fichier du flux",
        "Empty attachment",
    ),
    ReasonCode.IRR_EXT_DOC: (
        "Contrôle de l'extension des PJ de chaque fichier du flux",
        "Attachment extension not accepted",
    ),
    ReasonCode.IRR_TAILLE_F: (
        "Contrôle de taille max des fichiers contenus dans le flux",
        "File too large",
    ),
    ReasonCode.IRR_ANTIVIRUS: ("Contrôle anti-virus", "Antivirus check failed"),
    ReasonCode.IRR_NOM_F: (
        "Contrôle du nom des fichiers du flux (libellé non publié dans le corpus)",
        "File name check (label not published in the corpus)",
    ),
}


def _codes(text: str) -> frozenset[ReasonCode]:
    return frozenset(ReasonCode(code) for code in text.split())


#: BR-FR-CDV-CL-09 per-status asserts (FATAL edition V1.4.0.03).
REASONS_BY_STATUS: dict[Status, frozenset[ReasonCode]] = {
    Status.DEPOSEE: _codes("NON_TRANSMISE"),
    Status.APPROUVEE_PARTIELLEMENT: _codes(
        "AUTRE CMD_ERR SIRET_ERR CODE_ROUTAGE_ERR REF_CT_ABSENT REF_ERR PU_ERR REM_ERR "
        "QTE_ERR ART_ERR MODPAI_ERR QUALITE_ERR LIVR_INCOMP"
    ),
    Status.EN_LITIGE: _codes(
        "AUTRE COORD_BANC_ERR TX_TVA_ERR MONTANTTOTAL_ERR CALCUL_ERR NON_CONFORME DOUBLON "
        "DEST_INC DEST_ERR TRANSAC_INC EMMET_INC CONTRAT_TERM DOUBLE_FACT CMD_ERR ADR_ERR "
        "SIRET_ERR CODE_ROUTAGE_ERR REF_CT_ABSENT REF_ERR PU_ERR REM_ERR QTE_ERR ART_ERR "
        "MODPAI_ERR QUALITE_ERR LIVR_INCOMP"
    ),
    Status.SUSPENDUE: _codes(
        "JUSTIF_ABS COORD_BANC_ERR CMD_ERR SIRET_ERR CODE_ROUTAGE_ERR REF_CT_ABSENT REF_ERR"
    ),
    Status.REFUSEE: _codes(
        "TX_TVA_ERR MONTANTTOTAL_ERR CALCUL_ERR NON_CONFORME DOUBLON DEST_ERR TRANSAC_INC "
        "EMMET_INC CONTRAT_TERM DOUBLE_FACT CMD_ERR ADR_ERR REF_CT_ABSENT"
    ),
    Status.REJETEE: _codes(
        "MONTANTTOTAL_ERR CALCUL_ERR DOUBLON DEST_INC ADR_ERR REJ_SEMAN REJ_UNI REJ_COH "
        "REJ_ADR REJ_CONT_B2G REJ_REF_PJ REJ_ASS_PJ"
    ),
    Status.ERREUR_DE_ROUTAGE: _codes("ROUTAGE_ERR"),
    Status.IRRECEVABLE: _codes(
        "IRR_VIDE_F IRR_TYPE_F IRR_SYNTAX IRR_TAILLE_PJ IRR_NOM_PJ IRR_VID_PJ IRR_EXT_DOC "
        "IRR_TAILLE_F IRR_ANTIVIRUS IRR_NOM_F"
    ),
}

#: BR-FR-CDV-CL-09_MDT-113_210B2G: refusal reasons when the sender is Chorus Pro (0238 = 9999).
#: Its message also names CONTACT_ACHTR, which its test does not accept: neither do we.
REFUSAL_REASONS_B2G: frozenset[ReasonCode] = _codes(
    "RETRAIT_MAN_SERV ST_CT_NON_DECLAR SUPPR_COMP_AVOIR TRANSF_PMNT_REGIE AUTRE COORD_BANC_ERR "
    "TX_TVA_ERR MONTANTTOTAL_ERR CALCUL_ERR NON_CONFORME DOUBLON DEST_ERR TRANSAC_INC "
    "EMMET_INC CONTRAT_TERM DOUBLE_FACT CMD_ERR ADR_ERR REF_CT_ABSENT LIVR_INCOMP"
)


def allowed_reasons(status: Status, *, b2g: bool = False) -> frozenset[ReasonCode]:
    """The reason codes the FATAL schematron accepts for ``status``.

    >>> sorted(allowed_reasons(Status.ERREUR_DE_ROUTAGE))
    [<ReasonCode.ROUTAGE_ERR: 'ROUTAGE_ERR'>]
    """
    if status is Status.REFUSEE and b2g:
        return REFUSAL_REASONS_B2G
    return REASONS_BY_STATUS.get(status, frozenset(ReasonCode))


class ActionCode(StrEnum):
    """Requested action codes (MDT-121), BR-FR-CDV-CL-10."""

    NOA = "NOA"
    PIN = "PIN"
    NIN = "NIN"
    CNF = "CNF"
    CNP = "CNP"
    CNA = "CNA"
    OTH = "OTH"

    @property
    def label_fr(self) -> str:
        """French label (MDT-122 wording)."""
        return _ACTION_LABELS[self][0]

    @property
    def label_en(self) -> str:
        """English label."""
        return _ACTION_LABELS[self][1]


_ACTION_LABELS: dict[ActionCode, tuple[str, str]] = {
    ActionCode.NOA: ("Aucune action requise", "No action required"),
    ActionCode.PIN: ("Information complémentaire requise", "Further information required"),
    ActionCode.NIN: ("Créer une Facture Rectificative", "Issue a corrective invoice"),
    ActionCode.CNF: ("Créer un Avoir total", "Issue a full credit note"),
    ActionCode.CNP: ("Créer un Avoir partiel", "Issue a partial credit note"),
    ActionCode.CNA: ("Rembourser le paiement de la facture", "Refund the invoice payment"),
    ActionCode.OTH: ("Autre", "Other"),
}


class CharacteristicType(StrEnum):
    """Type of a reported or expected value (MDT-207), BR-FR-CDV-CL-11."""

    MEN = "MEN"
    MPA = "MPA"
    RAP = "RAP"
    ESC = "ESC"
    RAB = "RAB"
    REM = "REM"
    MAP = "MAP"
    MAPTTC = "MAPTTC"
    MNA = "MNA"
    MNATTC = "MNATTC"
    CBB = "CBB"
    DIV = "DIV"
    DVA = "DVA"
    MAJ = "MAJ"


# --------------------------------------------------------------------------- transitions

_ANY_PROCESSING = PROCESSING_STATUSES | {Status.REFUSEE, Status.ANNULEE}

_NEXT: dict[Status | None, frozenset[Status]] = {
    None: frozenset(
        {
            Status.DEPOSEE,
            Status.REJETEE,
            Status.RECUE,
            Status.ERREUR_DE_ROUTAGE,
            Status.IRRECEVABLE,
        }
    ),
    Status.DEPOSEE: frozenset(
        {
            Status.EMISE,
            Status.RECUE,
            Status.REJETEE,
            Status.ERREUR_DE_ROUTAGE,
            Status.ANNULEE,
        }
    ),
    Status.EMISE: frozenset({Status.RECUE, Status.REJETEE, Status.ERREUR_DE_ROUTAGE, Status.ANNULEE}),
    Status.RECUE: frozenset({Status.MISE_A_DISPOSITION, Status.ANNULEE}),
    Status.MISE_A_DISPOSITION: _ANY_PROCESSING,
    Status.REFUSEE: frozenset({Status.ANNULEE}),
    Status.REJETEE: frozenset(),
    Status.ANNULEE: frozenset(),
    Status.ERREUR_DE_ROUTAGE: frozenset(),
    Status.IRRECEVABLE: frozenset(),
}
for _status in PROCESSING_STATUSES:
    # any processing status may follow any other; a status is not repeated, except
    # payments and cashing, which may be partial.
    _NEXT[_status] = _ANY_PROCESSING - {_status}
_NEXT[Status.SUSPENDUE] = _NEXT[Status.SUSPENDUE] | {Status.COMPLETEE}
_NEXT[Status.COMPLETEE] = _ANY_PROCESSING
_NEXT[Status.PAIEMENT_TRANSMIS] = _NEXT[Status.PAIEMENT_TRANSMIS] | {Status.PAIEMENT_TRANSMIS}
_NEXT[Status.ENCAISSEE] = _NEXT[Status.ENCAISSEE] | {Status.ENCAISSEE}


def next_statuses(current: Status | None) -> frozenset[Status]:
    """Every status that may follow ``current`` (``None``: no status yet)."""
    return _NEXT[current]


def can_transition(from_status: Status | None, to: Status) -> bool:
    """True when ``to`` may follow ``from_status`` (``None``: the first status).

    >>> can_transition(None, Status.DEPOSEE), can_transition(Status.REJETEE, Status.RECUE)
    (True, False)
    """
    return to in _NEXT[from_status]


# --------------------------------------------------------------------------- errors


class LifecycleRejected(InputRejected):
    """A lifecycle event breaks the rules of XP Z12-012 / BR-FR-CDV."""

    code = ErrorCode.LIFECYCLE_TRANSITION


class TransitionForbidden(LifecycleRejected):
    """The status cannot follow the current one."""

    code = ErrorCode.LIFECYCLE_TRANSITION


class ReasonNotAllowed(LifecycleRejected):
    """A reason code is not in the closed list allowed for the status."""

    code = ErrorCode.LIFECYCLE_REASON


class ReasonMissing(LifecycleRejected):
    """The status requires a reason code (BR-FR-CDV-15)."""

    code = ErrorCode.LIFECYCLE_REASON_MISSING


class AmountMissing(LifecycleRejected):
    """A 212 Encaissée event without the amount cashed, or an amount where none belongs."""

    code = ErrorCode.LIFECYCLE_AMOUNT_MISSING


# --------------------------------------------------------------------------- the model


class ActorKind(StrEnum):
    """Who set a status: a person, the platform itself, or a background job."""

    USER = "user"
    SYSTEM = "system"
    JOB = "job"


class Actor(BaseModel):
    """The author of an event inside Encaisse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActorKind
    id: str = Field(min_length=1)


class Identifier(BaseModel):
    """An identifier with its ISO 6523 / EAS scheme (0002 SIREN, 0009 SIRET, 0225, 0238...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(min_length=1)
    scheme: str | None = "0002"


class PartyRole(StrEnum):
    """Party role codes the CDAR accepts (BR-FR-CDV-CL-02/03/04/08, UNCL 3035 + DFH)."""

    BUYER = "BY"
    BUYER_AGENT = "AB"
    FACTOR = "DL"
    SELLER = "SE"
    SELLER_AGENT = "SR"
    PLATFORM = "WK"
    PPF = "DFH"
    PAYEE = "PE"
    PAYER = "PR"
    INVOICER = "II"
    INVOICEE = "IV"


class Party(BaseModel):
    """A party to a lifecycle message: its role, identifiers, name and electronic address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: PartyRole
    ids: tuple[Identifier, ...] = ()
    name: str | None = None
    address: Identifier | None = Field(
        default=None, description="electronic address (MDT-73), scheme 0225 in France"
    )


class InvoiceReference(BaseModel):
    """The invoice an event concerns (MDG-33: MDT-87, MDT-91, MDT-95, MDT-100, MDT-129)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_number: str = Field(min_length=1, description="BT-1 (for 501: the file name)")
    issue_date: date | None = Field(default=None, description="BT-2; absent only for 501")
    type_code: str = Field(default="380", description="BT-3")
    seller: Party | None = None
    buyer: Party | None = None
    received_at: datetime | None = Field(
        default=None, description="MDT-95: when the party setting the status received it"
    )
    document_id: str | None = Field(default=None, description="our document id, when known")

    @field_validator("received_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)

    @property
    def seller_siren(self) -> str | None:
        """The seller's SIREN (scheme 0002), when known."""
        if self.seller is None:
            return None
        return next((i.value for i in self.seller.ids if i.scheme == "0002"), None)


class StatusReason(BaseModel):
    """One reason of a status (MDG-37): code, its text, and the action requested."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: ReasonCode
    text: str | None = Field(default=None, description="MDT-114")
    action: ActionCode | None = Field(default=None, description="MDT-121")
    action_text: str | None = Field(default=None, description="MDT-122")


class DocumentCharacteristic(BaseModel):
    """A value reported or expected with a status (MDG-43), e.g. the amount cashed (MEN)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_code: CharacteristicType
    id: str | None = Field(default=None, description="MDT-206, e.g. BT-152")
    value_changed: bool | None = None
    name: str | None = None
    location: str | None = Field(default=None, description="XPath of the data in the invoice")
    value: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    value_date: date | None = None
    percent: Decimal | None = None


class MessageInfo(BaseModel):
    """Envelope of the CDAR message an event came in or went out with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str | None = Field(default=None, description="MDT-4")
    name: str | None = Field(default=None, description="MDT-5")
    created_at: datetime | None = Field(default=None, description="MDT-8")
    business_process: str | None = Field(default="REGULATED", description="MDT-2")
    guideline: str = Field(default="urn.cpro.gouv.fr:1p0:CDV:invoice", description="MDT-3")

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)


class LifecycleEvent(BaseModel):
    """One status set on one invoice: history is a list of these, append-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    invoice: InvoiceReference
    status: Status
    reasons: tuple[StatusReason, ...] = ()
    free_text: str | None = None
    actor: Actor
    timestamp: datetime = Field(description="MDT-78, aware UTC")
    amount: Decimal | None = Field(default=None, description="212: cashed; 211: paid")
    currency: str | None = None
    vat_rate: Decimal | None = Field(default=None, description="VAT rate of the amount cashed")
    payment_date: date | None = None
    characteristics: tuple[DocumentCharacteristic, ...] = ()
    sender: Party | None = Field(default=None, description="MDG-9")
    issuer: Party | None = Field(default=None, description="MDG-10: who sets the status")
    recipients: tuple[Party, ...] = Field(default=(), description="MDG-13")
    b2g: bool = False
    message: MessageInfo | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        """The reason codes, in order."""
        return tuple(r.code for r in self.reasons)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- checks


def _as_reason(item: ReasonCode | str | StatusReason, where: str) -> StatusReason:
    if isinstance(item, StatusReason):
        return item
    try:
        return StatusReason(code=ReasonCode(str(item).strip()))
    except ValueError:
        raise ReasonNotAllowed(
            f"{item!r} is not a status reason code of BR-FR-CDV-CL-09",
            where=where,
            reason=str(item),
        ) from None


def check_reasons(status: Status, reasons: Iterable[StatusReason], *, b2g: bool = False) -> None:
    """Raise unless ``reasons`` suit ``status`` (BR-FR-CDV-15 and BR-FR-CDV-CL-09)."""
    codes = [r.code for r in reasons]
    if status in REASON_REQUIRED and not codes:
        raise ReasonMissing(
            f"status {status} ({status.label_en}) needs a reason code (BR-FR-CDV-15); "
            f"allowed: {', '.join(sorted(allowed_reasons(status, b2g=b2g)))}",
            where="MDT-113",
            status=str(status),
        )
    allowed = allowed_reasons(status, b2g=b2g)
    for code in codes:
        if code not in allowed:
            raise ReasonNotAllowed(
                f"reason {code} is not allowed for status {status} ({status.label_en}); "
                f"allowed: {', '.join(sorted(allowed))}",
                where="MDT-113",
                status=str(status),
                reason=str(code),
            )


def check_amount(status: Status, amount: Decimal | None) -> None:
    """Raise unless ``amount`` suits ``status``: required for 212, only for 211 and 212."""
    if status in AMOUNT_REQUIRED and amount is None:
        raise AmountMissing(
            f"status {status} ({status.label_en}) needs the amount cashed (MDT-215, BR-FR-CDV-14)",
            where="MDT-215",
            status=str(status),
        )
    if amount is not None and status not in AMOUNT_ALLOWED:
        raise AmountMissing(
            f"status {status} ({status.label_en}) carries no amount; only 211 and 212 do",
            where="MDT-215",
            status=str(status),
        )
    if amount is not None and amount < 0:
        raise AmountMissing(f"the amount must not be negative, got {amount}", where="MDT-215")


def transition(
    current: Status | None,
    to: Status,
    *,
    invoice: InvoiceReference,
    actor: Actor,
    reasons: Sequence[ReasonCode | str | StatusReason] = (),
    amount: Decimal | None = None,
    currency: str | None = "EUR",
    vat_rate: Decimal | None = None,
    payment_date: date | None = None,
    free_text: str | None = None,
    at: datetime | None = None,
    b2g: bool = False,
    event_id: str | None = None,
    sender: Party | None = None,
    issuer: Party | None = None,
    recipients: Sequence[Party] = (),
) -> LifecycleEvent:
    """Check that ``to`` may follow ``current`` and return the event that records it.

    ``sender``, ``issuer`` and ``recipients`` name the parties of the CDAR message (the
    writer derives them from the invoice when left out). Raises :class:`TransitionForbidden`,
    :class:`ReasonMissing`, :class:`ReasonNotAllowed` or :class:`AmountMissing`.

    >>> ev = transition(None, Status.RECUE, invoice=InvoiceReference(invoice_number="F1"),
    ...                 actor=Actor(kind=ActorKind.JOB, id="register"))
    >>> ev.status.label_fr
    'Reçue'
    """
    if not can_transition(current, to):
        after = "as a first status" if current is None else f"after {current} ({current.label_en})"
        allowed = ", ".join(sorted(next_statuses(current))) or "none (terminal status)"
        raise TransitionForbidden(
            f"status {to} ({to.label_en}) cannot be set {after}; allowed: {allowed}",
            where="MDT-105",
            current=None if current is None else str(current),
            target=str(to),
        )
    items = tuple(_as_reason(r, "MDT-113") for r in reasons)
    check_reasons(to, items, b2g=b2g)
    check_amount(to, amount)
    fields: dict[str, Any] = {
        "invoice": invoice,
        "status": to,
        "reasons": items,
        "free_text": free_text,
        "actor": actor,
        "timestamp": at if at is not None else datetime.now(UTC),
        "amount": amount,
        "currency": currency if amount is not None else None,
        "vat_rate": vat_rate,
        "payment_date": payment_date,
        "b2g": b2g,
        "sender": sender,
        "issuer": issuer,
        "recipients": tuple(recipients),
    }
    if event_id is not None:
        fields["event_id"] = event_id
    return LifecycleEvent(**fields)


def check_history(events: Sequence[LifecycleEvent]) -> None:
    """Raise unless ``events`` (oldest first) form an allowed sequence."""
    current: Status | None = None
    for event in events:
        if not can_transition(current, event.status):
            raise TransitionForbidden(
                f"status {event.status} cannot follow {current or 'nothing'} (event {event.event_id})",
                where="MDT-105",
            )
        check_reasons(event.status, event.reasons, b2g=event.b2g)
        check_amount(event.status, event.amount)
        current = event.status
