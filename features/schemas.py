"""The data contract's rules: pandera models of the clients and sessions tables.

Every rule of ``shared/spec/data-contract.md`` is a pandera check here: column types and
ranges on the fields, row and within-table rules as dataframe checks, and the cross-table
rules (every session's client exists, no session before intake) on
:class:`EpisodeSessionsSchema`, which sees each session beside its client's intake date.

Use :func:`features.contract.validate_extract` rather than the models directly: it
parses the raw values first, so that a range check still runs on the rest of a column in
which one cell was not a number, and it turns pandera's failure cases into one report line
per failing cell.

Dataframe-level checks name the column they are about as the first word of their error
message; the report reads it from there.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from features.instruments import (
    INSTRUMENTS,
    MEASURE_COLUMNS,
    SELF_HARM_ITEM,
    SELF_HARM_ITEM_OF,
    SELF_HARM_ITEM_RANGE,
    SESSION_SCORE_COLUMNS,
)
from features.vocabulary import GENDERS, PRIMARY_CONCERNS, TERMINATIONS

CLIENT_COLUMNS = (
    "client_id",
    "clinic_id",
    "therapist_id",
    "intake_date",
    "age",
    "gender",
    "primary_concern",
    "prior_treatment",
    "termination",
    "end_date",
)
SESSION_COLUMNS = (
    "client_id",
    "session_number",
    "session_date",
    "attended",
    *MEASURE_COLUMNS,
    SELF_HARM_ITEM,
)
#: Session columns an extract may leave out (revision 2 added them as optional).
OPTIONAL_SESSION_COLUMNS = (SELF_HARM_ITEM,)


def _measure_field(column: str) -> pa.Field:
    instrument = INSTRUMENTS[column]
    return pa.Field(nullable=True, ge=instrument.low, le=instrument.high)


def _position_in_episode(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Sessions sorted by client and number, with each row's position (1-based) per client."""
    ordered = df.sort_values(["client_id", "session_number"], kind="stable")
    return ordered, ordered.groupby("client_id", sort=False).cumcount() + 1


class ClientsSchema(pa.DataFrameModel):
    """One row per episode of care."""

    client_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    clinic_id: Series[str] = pa.Field(str_length={"min_value": 1})
    therapist_id: Series[str] = pa.Field(str_length={"min_value": 1})
    intake_date: Series[pa.DateTime]
    age: Series[int] = pa.Field(ge=16, le=100)
    gender: Series[str] = pa.Field(isin=GENDERS)
    primary_concern: Series[str] = pa.Field(isin=PRIMARY_CONCERNS)
    prior_treatment: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    termination: Series[str] = pa.Field(isin=TERMINATIONS)
    end_date: Series[pa.DateTime] = pa.Field(nullable=True)

    class Config:
        name = "clients"
        strict = True
        ordered = False

    @pa.dataframe_check(error="end_date must be empty exactly when termination is ongoing")
    def end_date_empty_exactly_when_ongoing(cls, df: pd.DataFrame) -> pd.Series:
        ongoing = df["termination"] == "ongoing"
        return df["end_date"].isna() == ongoing

    @pa.dataframe_check(error="end_date must not be before intake_date")
    def end_date_not_before_intake(cls, df: pd.DataFrame) -> pd.Series:
        return (
            df["end_date"].isna()
            | df["intake_date"].isna()
            | (df["end_date"] >= df["intake_date"])
        )


class SessionsSchema(pa.DataFrameModel):
    """One row per scheduled appointment, attended or not."""

    client_id: Series[str] = pa.Field(str_length={"min_value": 1})
    session_number: Series[int] = pa.Field(ge=1)
    session_date: Series[pa.DateTime]
    attended: Series[bool]
    wai_client: Series[float] = _measure_field("wai_client")
    wai_therapist: Series[float] = _measure_field("wai_therapist")
    srs: Series[float] = _measure_field("srs")
    ors: Series[float] = _measure_field("ors")
    oq45: Series[pd.Int64Dtype] = _measure_field("oq45")
    phq9: Series[pd.Int64Dtype] = _measure_field("phq9")
    gad7: Series[pd.Int64Dtype] = _measure_field("gad7")
    # Optional (revision 2): an extract without the column is valid.
    phq9_item9: Optional[Series[pd.Int64Dtype]] = pa.Field(  # noqa: UP045 (pandera)
        nullable=True, ge=SELF_HARM_ITEM_RANGE[0], le=SELF_HARM_ITEM_RANGE[1]
    )

    class Config:
        name = "sessions"
        strict = True
        ordered = False

    @pa.dataframe_check(
        error="attended is false (a missed session), so every measure must be empty"
    )
    def missed_session_has_no_measures(cls, df: pd.DataFrame) -> pd.Series:
        # reindex: a missing measure column is reported by the column rule, not here.
        any_measure = df.reindex(columns=list(SESSION_SCORE_COLUMNS)).notna().any(axis=1)
        return df["attended"].astype("boolean").fillna(True) | ~any_measure

    @pa.dataframe_check(error="phq9_item9 must not be above the PHQ-9 total (phq9)")
    def self_harm_item_within_total(cls, df: pd.DataFrame) -> pd.Series:
        if SELF_HARM_ITEM not in df or SELF_HARM_ITEM_OF not in df:
            return pd.Series(True, index=df.index)
        item, total = df[SELF_HARM_ITEM], df[SELF_HARM_ITEM_OF]
        return (item.isna() | total.isna() | (item <= total)).fillna(True).astype(bool)

    @pa.dataframe_check(error="session_number must not repeat within a client")
    def session_number_unique_per_client(cls, df: pd.DataFrame) -> pd.Series:
        return ~df.duplicated(["client_id", "session_number"], keep=False)

    @pa.dataframe_check(
        error="session_number must run 1, 2, 3, ... per client: a number before it is missing"
    )
    def session_numbers_consecutive(cls, df: pd.DataFrame) -> pd.Series:
        ordered, _ = _position_in_episode(df)
        # Dense rank ignores duplicates (their own check reports them): a number above its
        # dense rank follows a gap. Every later session of the client is then off too, so
        # only the first row where the run breaks is reported.
        rank = ordered.groupby("client_id", sort=False)["session_number"].rank(method="dense")
        off = ordered["session_number"] != rank
        first_off = off & ~off.groupby(ordered["client_id"], sort=False).shift(fill_value=False)
        return ~first_off.reindex(df.index)

    @pa.dataframe_check(error="session_date must not be earlier than the previous session's date")
    def session_dates_non_decreasing(cls, df: pd.DataFrame) -> pd.Series:
        ordered, _ = _position_in_episode(df)
        previous = ordered.groupby("client_id", sort=False)["session_date"].shift()
        earlier = ordered["session_date"] < previous
        return ~earlier.reindex(df.index)


class EpisodeSessionsSchema(SessionsSchema):
    """Sessions seen beside their client row: the cross-table rules of the contract.

    ``intake_date`` and ``client_known`` are joined in from the clients table by
    :func:`features.contract.validate_extract`; they are not columns of the sessions file.
    """

    intake_date: Series[pa.DateTime] = pa.Field(nullable=True)
    client_known: Series[bool]

    @pa.dataframe_check(error="client_id does not exist in the clients table")
    def client_exists(cls, df: pd.DataFrame) -> pd.Series:
        return df["client_known"]

    @pa.dataframe_check(error="session_date must not be before the client's intake_date")
    def session_not_before_intake(cls, df: pd.DataFrame) -> pd.Series:
        return df["intake_date"].isna() | ~(df["session_date"] < df["intake_date"])
