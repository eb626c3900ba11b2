"""The session a SMART launch opens: a short-lived signed cookie, never a token in a URL.

The cookie holds who launched (``fhirUser``), from which record system (``iss``) and for
which patient, with its expiry, signed (HMAC-SHA256) under the service's link secret as a
``smart-session:`` subject, so it cannot be confused with a signed link nor altered. It
holds no access token: the EHR's tokens are used once, during the callback, and dropped.
The clinics a session sees are looked up from the issuer's registration at each request,
so an issuer removed from ``DROPOUT_RISK_SMART_CLIENTS`` ends its sessions at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.responses import Response

from service.reports.links import LinkSigner
from service.smart.clients import SmartClient

#: ``__Host-``: browsers accept it only with Secure, Path=/ and no Domain, so no other
#: host (not even a sibling subdomain) can set or overwrite it.
COOKIE_NAME = "__Host-dropout-risk-smart"
#: The cookie binding a launch to the browser that started it, one per launch under way.
_LAUNCH_COOKIE_PREFIX = "__Host-dropout-risk-launch-"
_SUBJECT = "smart-session:"
_MAX_COOKIE_CHARS = 3000  # a cookie beyond this was not made here


@dataclass(frozen=True)
class SmartSession:
    """A clinician's session opened from a record system.

    Attributes:
        iss: The record system's FHIR base URL.
        user: The ``fhirUser`` of its id_token (``Practitioner/123``, or an absolute URL).
        patient: The patient in context (the FHIR ``Patient`` id); None for a launch
            without one (a practitioner's caseload).
        clinics: The clinics whose records the session sees (the issuer's registration).
    """

    iss: str
    user: str | None
    patient: str | None
    clinics: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """Who reads, as stored in the read log (the audit store, never the app log)."""
        return f"smart:{self.user or self.iss}"

    def sees(self, *, clinic_id: str, client_id: str) -> bool:
        """Whether the session may see this clinic's client: one of its clinics and, for a
        patient launch, only that patient."""
        return clinic_id in self.clinics and (self.patient is None or client_id == self.patient)


def practitioner_id(user: str | None) -> str | None:
    """The id of a ``fhirUser`` naming a Practitioner (relative or absolute), else None."""
    if not user:
        return None
    parts = urlsplit(user).path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Practitioner" and parts[-1]:
        return parts[-1]
    return None


def issue_cookie(
    response: Response,
    session: SmartSession,
    *,
    links: LinkSigner,
    lifetime_seconds: int,
    now: float | None = None,
) -> None:
    """Set the session cookie of ``session`` on ``response``."""
    payload = json.dumps(
        {"iss": session.iss, "user": session.user, "patient": session.patient},
        separators=(",", ":"),
    )
    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    expires = int((time.time() if now is None else now) + lifetime_seconds)
    value = f"{encoded}.{expires}.{links.signature(_SUBJECT + encoded, expires)}"
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=lifetime_seconds,
        path="/",
        secure=True,
        httponly=True,  # never readable by a script, so an injected one cannot steal it
        # Lax, not Strict: the session starts on the callback, a top-level navigation from
        # the EHR's authorization server (another site); its redirect to the report is part
        # of that cross-site navigation, and a Strict cookie would not be sent with it, nor
        # when a clinician follows a link to the report from the record. Lax still keeps it
        # off cross-site subrequests and POSTs (the pages only answer GET).
        samesite="lax",
    )


def read_cookie(
    value: str | None,
    *,
    links: LinkSigner,
    clients: Mapping[str, SmartClient],
    now: float | None = None,
) -> SmartSession | None:
    """The session a cookie proves: genuine, unexpired, of an issuer still registered;
    None otherwise."""
    if not value or len(value) > _MAX_COOKIE_CHARS:
        return None
    encoded, _, rest = value.partition(".")
    expires_text, _, signature = rest.partition(".")
    if not expires_text.isdigit():
        return None
    if not links.verify(
        _SUBJECT + encoded, expires=int(expires_text), signature=signature, now=now
    ):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        return None  # signed by us, so not expected; refused all the same
    client = clients.get(claims.get("iss")) if isinstance(claims, dict) else None
    if client is None:
        return None
    return SmartSession(
        iss=client.iss,
        user=claims.get("user"),
        patient=claims.get("patient"),
        clinics=frozenset(client.clinics),
    )


def bind_launch(response: Response, state: str, *, lifetime_seconds: int) -> None:
    """Mark the browser that starts the launch of ``state``, so that only it can complete it.

    Without this, someone could start a launch in their own browser and have a clinician's
    browser complete it (by a link to the callback with their code and state), opening a
    session in the clinician's browser as someone else (RFC 6749 §10.12, login CSRF). The
    cookie's name comes from the state; no other site can set a ``__Host-`` cookie for us.
    """
    response.set_cookie(
        _launch_cookie(state),
        "1",
        max_age=lifetime_seconds,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",  # sent on the authorization server's redirect back (see above)
    )


def launch_bound(cookies: Mapping[str, str], state: str) -> bool:
    """Whether the browser sending ``cookies`` started the launch of ``state``."""
    return cookies.get(_launch_cookie(state)) == "1"


def unbind_launch(response: Response, state: str) -> None:
    """Remove the launch's cookie: the launch is over, whatever came of it."""
    response.delete_cookie(_launch_cookie(state), path="/", secure=True, httponly=True)


def _launch_cookie(state: str) -> str:
    return _LAUNCH_COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]
