"""SMART App Launch 2, EHR launch: from the EHR's ``iss`` and ``launch`` to a verified
launch context.

:meth:`SmartLauncher.authorize_url` discovers the EHR's endpoints and sends the browser to
its ``authorization_endpoint`` with every parameter SMART requires, PKCE (S256) included;
the ``state`` is random, stored server-side with the PKCE verifier and the issuer for a few
minutes, and taken once. :meth:`SmartLauncher.complete` takes that state back, exchanges the
code and verifies the id_token (:mod:`service.smart.tokens`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import anyio.to_thread

from service.audit.smart_launches import SmartLaunchStore
from service.cds.keys import KeyRing
from service.smart.clients import SmartClient
from service.smart.discovery import Discovery
from service.smart.tokens import (
    LaunchContext,
    LaunchRefusedError,
    exchange_code,
    launch_context,
    verify_id_token,
)

#: What we ask for: the launch context, who the clinician is (OpenID Connect and
#: ``fhirUser``), and read access to the patient's record (SMART v2 ``.rs``: read and
#: search). The scores themselves come from our own audit store.
SCOPE = (
    "launch openid fhirUser "
    "patient/Patient.rs patient/Observation.rs patient/QuestionnaireResponse.rs"
)
_MAX_PARAMETER_CHARS = 2048


class SmartLauncher:
    """Starts and completes EHR launches; one per process, the state in the audit store."""

    def __init__(
        self,
        *,
        clients: Sequence[SmartClient],
        launches: SmartLaunchStore,
        discovery: Discovery,
        keys: KeyRing,
        redirect_uri: str,
        launch_seconds: int,
    ) -> None:
        """Serve the registered ``clients``; launches stay valid ``launch_seconds``."""
        self.clients = {client.iss: client for client in clients}
        self.redirect_uri = redirect_uri
        self._launches = launches
        self._discovery = discovery
        self._keys = keys
        self.launch_seconds = launch_seconds

    async def authorize_url(self, *, iss: str, launch: str) -> tuple[str, str]:
        """Where to send the browser for the EHR's ``iss`` and its ``launch`` handle, and
        the launch's ``state``.

        Raises:
            LaunchRefusedError: ``iss`` is not registered (403), or a parameter is unusable.
            SmartUnavailableError: The EHR's discovery could not be read or used.
            AuditUnavailableError: The launch could not be stored.
        """
        if not 0 < len(launch) <= _MAX_PARAMETER_CHARS:
            raise LaunchRefusedError(400, "The launch carries no usable launch handle.",
                                     reason="launch parameter missing or too long")  # fmt: skip
        client = self.clients.get(iss.rstrip("/"))
        if client is None:
            raise LaunchRefusedError(
                403,
                "This record system is not registered with this service; ask its "
                "administrator to register it (DROPOUT_RISK_SMART_CLIENTS).",
                reason="issuer not registered",
            )
        configuration = await self._discovery.configuration(client.iss)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43 to 128
        begin = functools.partial(
            self._launches.begin,
            state=state,
            iss=client.iss,
            code_verifier=verifier,
            expires_at=datetime.now(UTC) + timedelta(seconds=self.launch_seconds),
        )
        await anyio.to_thread.run_sync(begin)
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": self.redirect_uri,
            "launch": launch,
            "scope": SCOPE,
            "state": state,
            "aud": iss,  # the FHIR base URL exactly as the EHR named it
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in configuration.authorization_endpoint else "?"
        return f"{configuration.authorization_endpoint}{separator}{urlencode(query)}", state

    async def complete(self, *, code: str, state: str) -> tuple[SmartClient, LaunchContext]:
        """The registered client and launch context of a callback.

        Raises:
            LaunchRefusedError: Unknown, expired or replayed ``state`` (400), a refused code
                or id_token (403).
            SmartUnavailableError: The EHR could not be reached or answered nonsense.
            AuditUnavailableError: The launch could not be read.
        """
        if not (0 < len(code) <= _MAX_PARAMETER_CHARS and 0 < len(state) <= 64):
            raise LaunchRefusedError(400, "This callback is incomplete; launch again.",
                                     reason="code or state missing or too long")  # fmt: skip
        pending = await anyio.to_thread.run_sync(self._launches.take, state)
        client = self.clients.get(pending.iss) if pending is not None else None
        if pending is None or client is None:
            raise LaunchRefusedError(
                400,
                "This launch has expired or was already used; launch again from the record.",
                reason="state unknown, expired or replayed",
            )
        configuration = await self._discovery.configuration(client.iss)
        answer = await exchange_code(
            self._discovery,
            configuration,
            client,
            code=code,
            code_verifier=pending.code_verifier,
            redirect_uri=self.redirect_uri,
        )
        claims = await verify_id_token(
            answer["id_token"],
            keys=self._keys,
            discovery=self._discovery,
            configuration=configuration,
            client=client,
        )
        return client, launch_context(answer, claims)


def _challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
