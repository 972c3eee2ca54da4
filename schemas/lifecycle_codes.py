"""Code lists of the French e-invoicing lifecycle: statuses, reasons, actions, characteristics.

Where each list comes from is told in :mod:`schemas.lifecycle`, which re-exports
every public name here; the transition rules and events live there.
"""

from __future__ import annotations

from enum import StrEnum


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
