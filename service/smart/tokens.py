"""The callback's two exchanges with the EHR: the code for its token answer, and the check of
the id_token that says who the clinician is.

The id_token is checked as an EHR's CDS Hooks JWT is (:mod:`service.cds.auth`): an
asymmetric algorithm from our fixed list, a ``kid`` naming a key of the EHR's published set
(fetched from discovery's ``jwks_uri`` and cached by :class:`service.cds.keys.KeyRing`,
refetched when the EHR rotates), a key that fits the algorithm; then its signature, ``iss``
(discovery's ``issuer``), ``aud`` (our ``client_id``) and expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from service.cds.auth import ALGORITHMS, CLOCK_SKEW_SECONDS, EhrUnauthorizedError, key_for
from service.cds.issuers import CdsIssuer
from service.cds.keys import KeyRing
from service.smart.clients import SmartClient
from service.smart.discovery import Discovery, SmartConfiguration, SmartUnavailableError

_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_CONTEXT_CHARS = 256  # a patient id or fhirUser longer than this is not one


class LaunchRefusedError(Exception):
    """A launch or callback refused; ``reason`` is for the log, ``message`` for the page."""

    def __init__(self, status: int, message: str, *, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class LaunchContext:
    """What the EHR said of the launch: the patient in context and the clinician."""

    patient: str | None
    user: str | None


_NOT_VERIFIED = "The record system's identity token could not be verified; launch again."


async def exchange_code(
    discovery: Discovery,
    configuration: SmartConfiguration,
    client: SmartClient,
    *,
    code: str,
    code_verifier: str,
    redirect_uri: str,
) -> dict[str, Any]:
    """The token endpoint's answer to ``code`` (its access token is not kept by the caller).

    Raises:
        LaunchRefusedError: The endpoint refused the code (403).
        SmartUnavailableError: It could not be reached or answered something unreadable,
            or our client key can no longer be read.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "client_id": client.client_id,
    }
    if client.confidential:
        try:
            assertion = client.client_assertion(token_endpoint=configuration.token_endpoint)
        except ValueError:
            # Checked at start-up; the file has gone or changed since. Not the EHR's fault,
            # but the launch cannot go on all the same: the operator finds why in the log.
            raise SmartUnavailableError("our private_key_file can no longer be read") from None
        form["client_assertion_type"] = _ASSERTION_TYPE
        form["client_assertion"] = assertion
    status, answer = await discovery.post_form(configuration.token_endpoint, form)
    if status != 200:
        error = answer.get("error") if isinstance(answer, dict) else None
        raise LaunchRefusedError(
            403,
            "The record system did not accept this launch; launch again.",
            reason=f"token endpoint answered HTTP {status} ({str(error)[:64]})",
        )
    if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
        raise SmartUnavailableError("the token answer carries no id_token")
    return answer


def launch_context(answer: dict[str, Any], claims: dict[str, Any]) -> LaunchContext:
    """The patient of the token answer and the ``fhirUser`` of the verified id_token."""
    patient, user = answer.get("patient"), claims.get("fhirUser")
    return LaunchContext(patient=_short(patient), user=_short(user))


async def verify_id_token(
    token: str,
    *,
    keys: KeyRing,
    discovery: Discovery,
    configuration: SmartConfiguration,
    client: SmartClient,
) -> dict[str, Any]:
    """The claims of ``token`` once every check of the module docstring has passed.

    Raises:
        LaunchRefusedError: A check failed (403; the reason is for the log).
        SmartUnavailableError: The key set URL is refused (see :meth:`Discovery.check`).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refused("malformed id_token") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise _refused(f"id_token algorithm not allowed ({str(alg)[:16]})")
    if not isinstance(kid, str) or not 0 < len(kid) <= _MAX_CONTEXT_CHARS:
        raise _refused("id_token names no usable kid")
    await discovery.check(configuration.jwks_uri)
    # The EHR's published key set, as an allow-listed jku of a CDS issuer: the key ring
    # caches it by kid and refetches (rate-limited) when the EHR rotates its key.
    source = CdsIssuer(iss=configuration.issuer, jku_allowed=(configuration.jwks_uri,))
    jwk = await keys.key(source, kid, configuration.jwks_uri)
    if jwk is None:
        raise _refused("no published key for the id_token's kid")
    try:
        key = key_for(jwk, alg, iss=configuration.issuer, kid=kid)
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=client.client_id,
            issuer=configuration.issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": _REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
        )
    except EhrUnauthorizedError as error:
        raise _refused(f"id_token key: {error.reason}") from None
    except jwt.PyJWTError as error:
        # PyJWT's exception type names the check that failed (signature, audience, expiry).
        raise _refused(f"id_token refused by PyJWT: {type(error).__name__}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client.client_id:
        raise _refused("id_token for several audiences without azp naming us")  # OIDC 3.1.3.7
    return claims


def _refused(reason: str) -> LaunchRefusedError:
    return LaunchRefusedError(403, _NOT_VERIFIED, reason=reason)


def _short(value: Any) -> str | None:
    """A context value as text, None when absent or not a plausible id."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_CONTEXT_CHARS:
        return value
    return None
