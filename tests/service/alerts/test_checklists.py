"""Every alert kind has a short, sourced checklist; safety leads with the service's protocol."""

from __future__ import annotations

from service.alerts.checklists import CHECKLISTS, SAFETY_NOTE
from service.audit import ALERT_KINDS
from service.schemas.alerts import checklist_out


def test_every_kind_has_a_short_sourced_checklist():
    assert set(CHECKLISTS) == set(ALERT_KINDS)
    for kind, checklist in CHECKLISTS.items():
        assert 1 <= len(checklist.items) <= 4, kind
        assert checklist.sources, kind
        assert all(item.endswith(".") for item in checklist.items), kind


def test_safety_leads_with_the_protocol_never_the_models_words():
    safety = checklist_out("safety", protocol="Ring the duty clinician: ext. 100.")
    assert safety.protocol == "Ring the duty clinician: ext. 100."
    assert safety.items[0] == SAFETY_NOTE
    assert all(
        checklist_out(k, protocol="x").protocol is None for k in CHECKLISTS if k != "safety"
    )
