"""Messages to people: rejection notices rendered from templates and sent over SMTP or to an outbox.

``notify`` depends on ``schemas`` only: the data a notice shows (the supplier, the
document, its status and findings, already annotated with plain-language
explanations) is handed in by the caller as a :class:`~notify.models.NoticeData`.
"""
