"""Hypothesis strategies that damage FHIR documents: any JSON, and one spot of a document
changed (a value replaced, deleted or added), for the FHIR input and route fuzz tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
FHIR_FIELDS = st.sampled_from(
    [
        "resourceType",
        "type",
        "entry",
        "resource",
        "status",
        "id",
        "subject",
        "encounter",
        "period",
        "start",
        "birthDate",
        "gender",
        "code",
        "coding",
        "system",
        "valueQuantity",
        "value",
        "valueInteger",
        "valueString",
        "effectiveDateTime",
        "extension",
        "url",
        "valueCode",
        "participant",
        "individual",
        "reference",
        "serviceProvider",
        "class",
    ]
)


def mutate(document: Any, draw, depth: int = 0) -> Any:
    """Change one spot of ``document``: replace, delete or add a value somewhere inside it.

    It usually goes deep, where the resources' elements are, rather than wrecking the envelope.
    """
    deeper = depth < 8 and draw(st.integers(0, 9)) < 8
    if isinstance(document, dict) and document and deeper:
        key = draw(st.sampled_from(sorted(document)))
        return {**document, key: mutate(document[key], draw, depth + 1)}
    if isinstance(document, list) and document and deeper:
        at = draw(st.integers(0, len(document) - 1))
        return [*document[:at], mutate(document[at], draw, depth + 1), *document[at + 1 :]]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace" or not isinstance(document, dict | list):
        return draw(json_documents)
    if action == "delete" and document:
        if isinstance(document, dict):
            key = draw(st.sampled_from(sorted(document)))
            return {k: v for k, v in document.items() if k != key}
        return document[1:]
    if isinstance(document, dict):
        return {**document, draw(FHIR_FIELDS): draw(json_documents)}
    return [*document, draw(json_documents)]
