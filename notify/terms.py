"""EN 16931 business terms (BT) and groups (BG) by their names, in French and English.

A notice tells a supplier which *field* to correct; ``BT-13`` means nothing to
most people, "Référence du bon de commande" does. The English names are those
of EN 16931-1:2017 (semantic model, table 2); the French names follow the
French edition NF EN 16931-1 and the French reform's external specifications.
The Factur-X/French extension terms used by BR-FR rules (``BT-X-…``) are not
listed: :func:`term_name` falls back to the id.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Lang = Literal["fr", "en"]

#: id → (French name, English name)
TERMS: Final[dict[str, tuple[str, str]]] = {
    # groups
    "BG-0": ("Facture", "Invoice"),
    "BG-1": ("Commentaire de la facture", "Invoice note"),
    "BG-2": ("Contrôle du processus", "Process control"),
    "BG-3": ("Référence à une facture antérieure", "Preceding invoice reference"),
    "BG-4": ("Vendeur", "Seller"),
    "BG-5": ("Adresse postale du vendeur", "Seller postal address"),
    "BG-6": ("Contact du vendeur", "Seller contact"),
    "BG-7": ("Acheteur", "Buyer"),
    "BG-8": ("Adresse postale de l'acheteur", "Buyer postal address"),
    "BG-9": ("Contact de l'acheteur", "Buyer contact"),
    "BG-10": ("Bénéficiaire", "Payee"),
    "BG-11": ("Représentant fiscal du vendeur", "Seller tax representative party"),
    "BG-12": ("Adresse postale du représentant fiscal", "Seller tax representative postal address"),
    "BG-13": ("Informations de livraison", "Delivery information"),
    "BG-14": ("Période de facturation", "Invoicing period"),
    "BG-15": ("Adresse de livraison", "Deliver to address"),
    "BG-16": ("Instructions de paiement", "Payment instructions"),
    "BG-17": ("Virement", "Credit transfer"),
    "BG-18": ("Informations sur la carte de paiement", "Payment card information"),
    "BG-19": ("Prélèvement", "Direct debit"),
    "BG-20": ("Remises au niveau du document", "Document level allowances"),
    "BG-21": ("Charges ou frais au niveau du document", "Document level charges"),
    "BG-22": ("Totaux du document", "Document totals"),
    "BG-23": ("Ventilation de la TVA", "VAT breakdown"),
    "BG-24": ("Pièces justificatives additionnelles", "Additional supporting documents"),
    "BG-25": ("Ligne de facture", "Invoice line"),
    "BG-26": ("Période de facturation de la ligne", "Invoice line period"),
    "BG-27": ("Remises sur la ligne", "Invoice line allowances"),
    "BG-28": ("Charges ou frais sur la ligne", "Invoice line charges"),
    "BG-29": ("Détails du prix", "Price details"),
    "BG-30": ("Informations sur la TVA de la ligne", "Line VAT information"),
    "BG-31": ("Informations sur l'article", "Item information"),
    "BG-32": ("Attributs de l'article", "Item attributes"),
    # document
    "BT-1": ("Numéro de facture", "Invoice number"),
    "BT-2": ("Date d'émission de la facture", "Invoice issue date"),
    "BT-3": ("Code de type de facture", "Invoice type code"),
    "BT-5": ("Code de devise de la facture", "Invoice currency code"),
    "BT-6": ("Code de devise de comptabilisation de la TVA", "VAT accounting currency code"),
    "BT-7": ("Date d'exigibilité de la TVA", "Value added tax point date"),
    "BT-8": ("Code de date d'exigibilité de la TVA", "Value added tax point date code"),
    "BT-9": ("Date d'échéance du paiement", "Payment due date"),
    "BT-10": ("Référence de l'acheteur (code service)", "Buyer reference"),
    "BT-11": ("Référence du projet", "Project reference"),
    "BT-12": ("Référence du contrat", "Contract reference"),
    "BT-13": ("Référence du bon de commande", "Purchase order reference"),
    "BT-14": ("Référence de la commande client", "Sales order reference"),
    "BT-15": ("Référence de l'avis de réception", "Receiving advice reference"),
    "BT-16": ("Référence de l'avis d'expédition (bon de livraison)", "Despatch advice reference"),
    "BT-17": ("Référence de l'appel d'offres ou du lot", "Tender or lot reference"),
    "BT-18": ("Identifiant d'objet facturé", "Invoiced object identifier"),
    "BT-19": ("Référence comptable de l'acheteur", "Buyer accounting reference"),
    "BT-20": ("Conditions de paiement", "Payment terms"),
    "BT-21": ("Code du sujet du commentaire", "Invoice note subject code"),
    "BT-22": ("Commentaire de la facture", "Invoice note"),
    "BT-23": ("Type de processus métier (cadre de facturation)", "Business process type"),
    "BT-24": ("Identifiant de spécification", "Specification identifier"),
    "BT-25": ("Référence à une facture antérieure", "Preceding invoice reference"),
    "BT-26": ("Date d'émission de la facture antérieure", "Preceding invoice issue date"),
    # seller
    "BT-27": ("Raison sociale du vendeur", "Seller name"),
    "BT-28": ("Nom commercial du vendeur", "Seller trading name"),
    "BT-29": ("Identifiant du vendeur", "Seller identifier"),
    "BT-30": (
        "Identifiant d'immatriculation légale du vendeur (SIREN)",
        "Seller legal registration identifier",
    ),
    "BT-31": ("Numéro de TVA du vendeur", "Seller VAT identifier"),
    "BT-32": ("Identifiant d'enregistrement fiscal du vendeur", "Seller tax registration identifier"),
    "BT-33": ("Informations juridiques complémentaires du vendeur", "Seller additional legal information"),
    "BT-34": ("Adresse électronique du vendeur", "Seller electronic address"),
    "BT-35": ("Ligne 1 de l'adresse du vendeur", "Seller address line 1"),
    "BT-36": ("Ligne 2 de l'adresse du vendeur", "Seller address line 2"),
    "BT-37": ("Ville du vendeur", "Seller city"),
    "BT-38": ("Code postal du vendeur", "Seller post code"),
    "BT-39": ("Subdivision du pays du vendeur", "Seller country subdivision"),
    "BT-40": ("Code de pays du vendeur", "Seller country code"),
    "BT-41": ("Point de contact du vendeur", "Seller contact point"),
    "BT-42": ("Numéro de téléphone du contact du vendeur", "Seller contact telephone number"),
    "BT-43": ("Adresse électronique du contact du vendeur", "Seller contact email address"),
    # buyer
    "BT-44": ("Raison sociale de l'acheteur", "Buyer name"),
    "BT-45": ("Nom commercial de l'acheteur", "Buyer trading name"),
    "BT-46": ("Identifiant de l'acheteur", "Buyer identifier"),
    "BT-47": (
        "Identifiant d'immatriculation légale de l'acheteur (SIREN)",
        "Buyer legal registration identifier",
    ),
    "BT-48": ("Numéro de TVA de l'acheteur", "Buyer VAT identifier"),
    "BT-49": ("Adresse électronique de l'acheteur", "Buyer electronic address"),
    "BT-50": ("Ligne 1 de l'adresse de l'acheteur", "Buyer address line 1"),
    "BT-51": ("Ligne 2 de l'adresse de l'acheteur", "Buyer address line 2"),
    "BT-52": ("Ville de l'acheteur", "Buyer city"),
    "BT-53": ("Code postal de l'acheteur", "Buyer post code"),
    "BT-54": ("Subdivision du pays de l'acheteur", "Buyer country subdivision"),
    "BT-55": ("Code de pays de l'acheteur", "Buyer country code"),
    "BT-56": ("Point de contact de l'acheteur", "Buyer contact point"),
    "BT-57": ("Numéro de téléphone du contact de l'acheteur", "Buyer contact telephone number"),
    "BT-58": ("Adresse électronique du contact de l'acheteur", "Buyer contact email address"),
    # payee, tax representative, delivery
    "BT-59": ("Nom du bénéficiaire", "Payee name"),
    "BT-60": ("Identifiant du bénéficiaire", "Payee identifier"),
    "BT-61": ("Identifiant d'immatriculation légale du bénéficiaire", "Payee legal registration identifier"),
    "BT-62": ("Nom du représentant fiscal du vendeur", "Seller tax representative name"),
    "BT-63": ("Numéro de TVA du représentant fiscal du vendeur", "Seller tax representative VAT identifier"),
    "BT-64": ("Ligne 1 de l'adresse du représentant fiscal", "Tax representative address line 1"),
    "BT-65": ("Ligne 2 de l'adresse du représentant fiscal", "Tax representative address line 2"),
    "BT-66": ("Ville du représentant fiscal", "Tax representative city"),
    "BT-67": ("Code postal du représentant fiscal", "Tax representative post code"),
    "BT-68": ("Subdivision du pays du représentant fiscal", "Tax representative country subdivision"),
    "BT-69": ("Code de pays du représentant fiscal", "Tax representative country code"),
    "BT-70": ("Nom de la partie livrée", "Deliver to party name"),
    "BT-71": ("Identifiant du lieu de livraison", "Deliver to location identifier"),
    "BT-72": ("Date de livraison effective", "Actual delivery date"),
    "BT-73": ("Date de début de la période de facturation", "Invoicing period start date"),
    "BT-74": ("Date de fin de la période de facturation", "Invoicing period end date"),
    "BT-75": ("Ligne 1 de l'adresse de livraison", "Deliver to address line 1"),
    "BT-76": ("Ligne 2 de l'adresse de livraison", "Deliver to address line 2"),
    "BT-77": ("Ville de livraison", "Deliver to city"),
    "BT-78": ("Code postal de livraison", "Deliver to post code"),
    "BT-79": ("Subdivision du pays de livraison", "Deliver to country subdivision"),
    "BT-80": ("Code de pays de livraison", "Deliver to country code"),
    # payment
    "BT-81": ("Code du moyen de paiement", "Payment means type code"),
    "BT-82": ("Libellé du moyen de paiement", "Payment means text"),
    "BT-83": ("Avis de paiement (référence de virement)", "Remittance information"),
    "BT-84": ("Identifiant du compte de paiement (IBAN)", "Payment account identifier"),
    "BT-85": ("Nom du compte de paiement", "Payment account name"),
    "BT-86": ("Identifiant du prestataire de paiement (BIC)", "Payment service provider identifier"),
    "BT-87": ("Numéro de la carte de paiement", "Payment card primary account number"),
    "BT-88": ("Nom du titulaire de la carte de paiement", "Payment card holder name"),
    "BT-89": ("Référence du mandat", "Mandate reference identifier"),
    "BT-90": ("Identifiant du créancier (ICS)", "Bank assigned creditor identifier"),
    "BT-91": ("Identifiant du compte débité", "Debited account identifier"),
    # document allowances and charges
    "BT-92": ("Montant de la remise", "Document level allowance amount"),
    "BT-93": ("Assiette de la remise", "Document level allowance base amount"),
    "BT-94": ("Pourcentage de la remise", "Document level allowance percentage"),
    "BT-95": ("Code de catégorie de TVA de la remise", "Document level allowance VAT category code"),
    "BT-96": ("Taux de TVA de la remise", "Document level allowance VAT rate"),
    "BT-97": ("Motif de la remise", "Document level allowance reason"),
    "BT-98": ("Code du motif de la remise", "Document level allowance reason code"),
    "BT-99": ("Montant des frais", "Document level charge amount"),
    "BT-100": ("Assiette des frais", "Document level charge base amount"),
    "BT-101": ("Pourcentage des frais", "Document level charge percentage"),
    "BT-102": ("Code de catégorie de TVA des frais", "Document level charge VAT category code"),
    "BT-103": ("Taux de TVA des frais", "Document level charge VAT rate"),
    "BT-104": ("Motif des frais", "Document level charge reason"),
    "BT-105": ("Code du motif des frais", "Document level charge reason code"),
    # totals
    "BT-106": ("Somme des montants nets des lignes", "Sum of Invoice line net amount"),
    "BT-107": ("Somme des remises au niveau du document", "Sum of allowances on document level"),
    "BT-108": ("Somme des frais au niveau du document", "Sum of charges on document level"),
    "BT-109": ("Montant total hors TVA", "Invoice total amount without VAT"),
    "BT-110": ("Montant total de la TVA", "Invoice total VAT amount"),
    "BT-111": (
        "Montant total de la TVA en devise de comptabilisation",
        "Invoice total VAT amount in accounting currency",
    ),
    "BT-112": ("Montant total TTC", "Invoice total amount with VAT"),
    "BT-113": ("Montant déjà payé", "Paid amount"),
    "BT-114": ("Montant d'arrondi", "Rounding amount"),
    "BT-115": ("Montant net à payer", "Amount due for payment"),
    # VAT breakdown
    "BT-116": ("Base d'imposition de la catégorie de TVA", "VAT category taxable amount"),
    "BT-117": ("Montant de la TVA de la catégorie", "VAT category tax amount"),
    "BT-118": ("Code de catégorie de TVA", "VAT category code"),
    "BT-119": ("Taux de TVA de la catégorie", "VAT category rate"),
    "BT-120": ("Motif d'exonération de TVA", "VAT exemption reason text"),
    "BT-121": ("Code du motif d'exonération de TVA", "VAT exemption reason code"),
    # attachments
    "BT-122": ("Référence de la pièce justificative", "Supporting document reference"),
    "BT-123": ("Description de la pièce justificative", "Supporting document description"),
    "BT-124": ("Adresse du document externe", "External document location"),
    "BT-125": ("Pièce jointe", "Attached document"),
    "BT-125-1": ("Code MIME de la pièce jointe", "Attached document Mime code"),
    "BT-125-2": ("Nom du fichier de la pièce jointe", "Attached document Filename"),
    # lines
    "BT-126": ("Identifiant de la ligne de facture", "Invoice line identifier"),
    "BT-127": ("Commentaire de la ligne", "Invoice line note"),
    "BT-128": ("Identifiant d'objet de la ligne", "Invoice line object identifier"),
    "BT-129": ("Quantité facturée", "Invoiced quantity"),
    "BT-130": ("Unité de la quantité facturée", "Invoiced quantity unit of measure code"),
    "BT-131": ("Montant net de la ligne", "Invoice line net amount"),
    "BT-132": ("Référence de la ligne de commande", "Referenced purchase order line reference"),
    "BT-133": ("Référence comptable de l'acheteur pour la ligne", "Invoice line Buyer accounting reference"),
    "BT-134": ("Date de début de la période de la ligne", "Invoice line period start date"),
    "BT-135": ("Date de fin de la période de la ligne", "Invoice line period end date"),
    "BT-136": ("Montant de la remise sur la ligne", "Invoice line allowance amount"),
    "BT-137": ("Assiette de la remise sur la ligne", "Invoice line allowance base amount"),
    "BT-138": ("Pourcentage de la remise sur la ligne", "Invoice line allowance percentage"),
    "BT-139": ("Motif de la remise sur la ligne", "Invoice line allowance reason"),
    "BT-140": ("Code du motif de la remise sur la ligne", "Invoice line allowance reason code"),
    "BT-141": ("Montant des frais sur la ligne", "Invoice line charge amount"),
    "BT-142": ("Assiette des frais sur la ligne", "Invoice line charge base amount"),
    "BT-143": ("Pourcentage des frais sur la ligne", "Invoice line charge percentage"),
    "BT-144": ("Motif des frais sur la ligne", "Invoice line charge reason"),
    "BT-145": ("Code du motif des frais sur la ligne", "Invoice line charge reason code"),
    "BT-146": ("Prix net de l'article", "Item net price"),
    "BT-147": ("Rabais sur le prix de l'article", "Item price discount"),
    "BT-148": ("Prix brut de l'article", "Item gross price"),
    "BT-149": ("Quantité de base du prix de l'article", "Item price base quantity"),
    "BT-150": ("Unité de la quantité de base du prix", "Item price base quantity unit of measure code"),
    "BT-151": ("Code de catégorie de TVA de l'article", "Invoiced item VAT category code"),
    "BT-152": ("Taux de TVA de l'article", "Invoiced item VAT rate"),
    "BT-153": ("Nom de l'article", "Item name"),
    "BT-154": ("Description de l'article", "Item description"),
    "BT-155": ("Identifiant vendeur de l'article", "Item Seller's identifier"),
    "BT-156": ("Identifiant acheteur de l'article", "Item Buyer's identifier"),
    "BT-157": ("Identifiant standard de l'article", "Item standard identifier"),
    "BT-158": ("Identifiant de classification de l'article", "Item classification identifier"),
    "BT-159": ("Pays d'origine de l'article", "Item country of origin"),
    "BT-160": ("Nom de l'attribut de l'article", "Item attribute name"),
    "BT-161": ("Valeur de l'attribut de l'article", "Item attribute value"),
    "BT-162": ("Ligne 3 de l'adresse du vendeur", "Seller address line 3"),
    "BT-163": ("Ligne 3 de l'adresse de l'acheteur", "Buyer address line 3"),
    "BT-164": ("Ligne 3 de l'adresse du représentant fiscal", "Tax representative address line 3"),
    "BT-165": ("Ligne 3 de l'adresse de livraison", "Deliver to address line 3"),
}

_SUBTERM = re.compile(r"^(B[TG]-\d+)-(\d+)$")
_SCHEME = {"fr": "identifiant du schéma", "en": "scheme identifier"}


def term_name(term_id: str, lang: Lang) -> str:
    """The name of an EN 16931 term in ``lang``; unknown ids are returned as they are.

    A scheme sub-term such as ``BT-46-1`` is named after its parent term.

    >>> term_name("BT-13", "fr")
    'Référence du bon de commande'
    >>> term_name("BT-29-1", "en")
    'Seller identifier, scheme identifier'
    >>> term_name("BT-X-42", "en")
    'BT-X-42'
    """
    names = TERMS.get(term_id)
    if names is not None:
        return names[0] if lang == "fr" else names[1]
    sub = _SUBTERM.match(term_id)
    if sub is not None and sub.group(1) in TERMS:
        return f"{term_name(sub.group(1), lang)}, {_SCHEME[lang]}"
    return term_id


def term_label(term_id: str, lang: Lang) -> str:
    """``name (id)``, or the bare id when the name is unknown.

    >>> term_label("BT-1", "en")
    'Invoice number (BT-1)'
    """
    name = term_name(term_id, lang)
    return term_id if name == term_id else f"{name} ({term_id})"
