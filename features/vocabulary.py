"""The domain's closed sets and shared constants, defined once for every layer.

The data contract's categories, the two outcomes and their names in a clinician's words,
the risk levels and how an episode can end. Everything that names one of these (the pandera
contract, the request models, the bundle, monitoring, cards, reports, FHIR) reads it from
here, so a word changed here is changed everywhere.

This module imports nothing: the service may read it without loading pandas or pandera.
"""

from __future__ import annotations

from types import MappingProxyType

#: Landmarks per episode unless the training run says otherwise (data contract revision 2:
#: L = 12, a usual course of treatment, so that a client at session 12 is judged on all
#: twelve sessions).
DEFAULT_LANDMARKS = 12

#: The two predicted outcomes, in the order every table and answer lists them.
OUTCOMES: tuple[str, ...] = ("dropout", "poor_outcome")

#: Each outcome's title, as a heading (report, model card, monitoring report).
#: Poor outcome (data contract, labels revision 2) is no reliable recovery for a client who
#: starts in the clinical range and reliable deterioration for one who starts below it;
#: where one title must serve both, the headline one is used.
OUTCOME_TITLES: MappingProxyType[str, str] = MappingProxyType(
    {"dropout": "Dropout", "poor_outcome": "No reliable recovery"}
)

#: Risk levels, lowest first; thresholds stored with the model separate them.
RISK_LEVELS: tuple[str, ...] = ("low", "moderate", "high")

#: How an episode of care ends (data contract, clients table); ``ongoing`` has no end date.
TERMINATIONS: tuple[str, ...] = ("completed", "dropout", "referred", "ongoing")

#: Terminations that end an episode with a label (data contract, "Labels").
LABELLED_TERMINATIONS: tuple[str, ...] = ("completed", "dropout")

#: The contract's gender categories.
GENDERS: tuple[str, ...] = ("female", "male", "nonbinary", "unknown")

#: The contract's presenting concerns.
PRIMARY_CONCERNS: tuple[str, ...] = ("depression", "anxiety", "ocd", "panic", "phobia", "other")

#: Factors listed per outcome in an answer unless configured otherwise.
DEFAULT_FACTORS = 5
