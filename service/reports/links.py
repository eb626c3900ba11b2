"""Short-lived signed links: a record-system card opens one report without an API token.

A link names what it opens (``report:<assessment id>``) and when it expires, and carries an
HMAC-SHA256 of both under the service's link secret; changing either breaks the signature,
and an expired link is refused even when its signature is good.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

#: How long a link stays valid unless the caller says otherwise (a clinician's sitting).
DEFAULT_LIFETIME_SECONDS = 8 * 3600


class LinkSigner:
    """Signs and checks links with one secret."""

    def __init__(self, secret: bytes, *, lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS) -> None:
        """Use ``secret`` (at least 32 bytes); links last ``lifetime_seconds`` by default."""
        if len(secret) < 32:
            raise ValueError("a link secret needs at least 32 bytes")
        self._secret = secret
        self._lifetime = lifetime_seconds

    def signature(self, subject: str, expires: int) -> str:
        """Hex HMAC-SHA256 of ``subject`` and ``expires`` (Unix seconds)."""
        message = f"{subject}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def query(
        self,
        subject: str,
        *,
        lifetime_seconds: int | None = None,
        now: float | None = None,
    ) -> str:
        """The query string (``expires=…&signature=…``) of a link to ``subject``, valid for
        ``lifetime_seconds`` (default: the signer's, i.e. the configured lifetime)."""
        lifetime = self._lifetime if lifetime_seconds is None else lifetime_seconds
        expires = int((time.time() if now is None else now) + lifetime)
        return urlencode({"expires": expires, "signature": self.signature(subject, expires)})

    def verify(
        self, subject: str, *, expires: int, signature: str, now: float | None = None
    ) -> bool:
        """Whether the link to ``subject`` is genuine and has not expired."""
        if expires < (time.time() if now is None else now):
            return False
        if not signature.isascii():  # compare_digest refuses non-ASCII text with a TypeError
            return False
        return hmac.compare_digest(self.signature(subject, expires), signature)


def report_subject(assessment_id: str) -> str:
    """What a report link opens."""
    return f"report:{assessment_id.lower()}"


def model_card_subject(version: str) -> str:
    """What a model-card link opens."""
    return f"model-card:{version}"


def caseload_subject(*, clinic_id: str, therapist_id: str | None, practitioner: str | None) -> str:
    """What a caseload link opens: one clinic's caseload (a therapist's, or the whole
    clinic's), for a named practitioner, who may act on its alerts, or for none."""
    parts = (clinic_id, therapist_id or "", practitioner or "")
    return "caseload:" + "/".join(quote(part, safe="") for part in parts)


def caseload_query(
    signer: LinkSigner,
    *,
    clinic_id: str,
    therapist_id: str | None,
    practitioner: str | None,
    lifetime_seconds: int | None = None,
) -> str:
    """The query string of a signed link to a caseload (its subject's parts, then the
    signature's), as a record-system card carries it."""
    named = {"clinic_id": clinic_id, "therapist_id": therapist_id, "practitioner": practitioner}
    subject = caseload_subject(
        clinic_id=clinic_id, therapist_id=therapist_id, practitioner=practitioner
    )
    fields = urlencode({key: value for key, value in named.items() if value})
    return f"{fields}&{signer.query(subject, lifetime_seconds=lifetime_seconds)}"
