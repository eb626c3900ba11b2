"""The model serving, as integrators and operators read it."""

from __future__ import annotations

from service.security import Scope


def test_current_model_names_version_thresholds_metrics_and_card(api, tokens, registry, trained):
    answer = api.get("/v1/models/current", headers=tokens.header(Scope.MODELS_READ))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["name"], body["version"], body["alias"]) == (
        "dropout-risk",
        registry.version,
        "champion",
    )
    assert body["max_landmark"] == trained.model.max_landmark
    dropout = body["outcomes"]["dropout"]
    assert dropout["thresholds"]["moderate"] == trained.model.dropout.thresholds.moderate
    assert dropout["thresholds"]["high"] == trained.model.dropout.thresholds.high
    assert dropout["metrics"] == {"auroc": 0.75}  # as the registered run logged them
    assert body["outcomes"]["poor_outcome"]["metrics"] == {"ece": 0.02}
    assert body["registry"]["reachable"] is True
    assert body["run_id"]


def test_reload_without_a_move_keeps_the_version(api, tokens, registry):
    answer = api.post("/v1/models/reload", headers=tokens.header(Scope.ADMIN))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "previous_version": registry.version,
        "version": registry.version,
        "switched": False,
    }
