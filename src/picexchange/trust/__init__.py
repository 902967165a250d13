"""Who is who, and what a signing certificate must be: pure values and rules, no file access.

- :mod:`picexchange.trust.policy`: the certificate policy — key strength, CA flag, key usages,
  the certificate's own signature, critical extensions — applied at registration and at presentation.
- :mod:`picexchange.trust.registry`: :class:`TrustStore`, :class:`Partner`, :class:`RegisteredCertificate`,
  :class:`Identity` and :class:`Hosted`, the partner registry as values.

Reading ``partners.toml`` and the key and certificate files it names is the shell
:mod:`picexchange.files.registry` (:func:`~picexchange.files.registry.load_trust`,
:func:`~picexchange.files.registry.load_identity`), one layer up; nothing in this package imports it.
"""

from __future__ import annotations

from picexchange.trust.policy import (
    DOCUMENT_SIGNING_USAGES,
    MIN_HASH_BITS,
    MIN_RSA_BITS,
    PARTICIPANT_URI_PREFIX,
    UNDERSTOOD_CRITICAL_EXTENSIONS,
    SigningKey,
    certificate_problems,
    describe_certificate,
    issuer_problems,
    key_problem,
    participant_of,
    signature_hash_problem,
)
from picexchange.trust.registry import (
    Hosted,
    Identity,
    ParticipantRole,
    Partner,
    RegisteredCertificate,
    TrustStore,
    is_participant_id,
)

__all__ = [
    "DOCUMENT_SIGNING_USAGES",
    "MIN_HASH_BITS",
    "MIN_RSA_BITS",
    "PARTICIPANT_URI_PREFIX",
    "UNDERSTOOD_CRITICAL_EXTENSIONS",
    "Hosted",
    "Identity",
    "ParticipantRole",
    "Partner",
    "RegisteredCertificate",
    "SigningKey",
    "TrustStore",
    "certificate_problems",
    "describe_certificate",
    "is_participant_id",
    "issuer_problems",
    "key_problem",
    "participant_of",
    "signature_hash_problem",
]
