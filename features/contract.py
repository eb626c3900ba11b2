"""Reading and validating a clinic extract against the data contract.

A clinic extract is two tables, clients and sessions, as CSV or Parquet. Validation is
lazy and complete: :func:`validate_extract` returns a :class:`ContractReport` listing every
failing cell (table, row, client, column, rule, value), never just the first, and nothing
is silently dropped or coerced. Values are parsed here, one column at a time, before the
pandera models in :mod:`features.schemas` run; a cell that cannot be parsed is reported
once ("not a whole number") and the column's other rules still run on the remaining cells.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.schemas import ClientsSchema, EpisodeSessionsSchema

_SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")
_TRUE_WORDS = frozenset({"true", "1", "yes", "t", "y"})
_FALSE_WORDS = frozenset({"false", "0", "no", "f", "n"})
FAILURE_COLUMNS = ("table", "row", "client_id", "column", "check", "value")


class ContractError(ValueError):
    """An extract cannot be read at all (missing file, unknown format)."""


class ContractViolation(ValueError):
    """An extract was read but breaks the data contract; ``report`` lists every failure."""

    def __init__(self, report: ContractReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class ContractReport:
    """The outcome of validating one extract.

    Attributes:
        failures: one row per failing cell, columns :data:`FAILURE_COLUMNS`. ``row`` is the
            1-based data row in its table (line ``row + 1`` of a CSV file, after the header).
        clients: the parsed clients table (contract dtypes).
        sessions: the parsed sessions table (contract dtypes).
    """

    failures: pd.DataFrame
    clients: pd.DataFrame = field(repr=False)
    sessions: pd.DataFrame = field(repr=False)

    @property
    def ok(self) -> bool:
        """Whether the extract meets the contract."""
        return self.failures.empty

    def summary(self) -> str:
        """One line: how many failures in how many rows, or that the extract is valid."""
        if self.ok:
            return f"extract is valid: {len(self.clients)} clients, {len(self.sessions)} sessions"
        rows = self.failures.groupby("table")["row"].nunique()
        parts = ", ".join(f"{n} {table} rows" for table, n in rows.items())
        return f"extract breaks the data contract: {len(self.failures)} failures in {parts}"

    def lines(self) -> list[str]:
        """Every failure as one readable sentence, in table and row order."""
        return [
            (f"{f.table} file" if f.row < 1 else f"{f.table} row {f.row}")
            + (f" (client {f.client_id})" if f.client_id else "")
            + f": {f.column}: {f.check}"
            + ("" if f.value == "" else f"; got {f.value!r}")
            for f in self.failures.itertuples(index=False)
        ]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one table as it is in the file: CSV cells as text, Parquet with its own types.

    Raises:
        ContractError: the file does not exist or its extension is neither CSV nor Parquet.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _SUPPORTED_SUFFIXES:
        raise ContractError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    if not path.is_file():
        raise ContractError(f"{path}: no such file")
    try:
        if suffix == ".csv":
            # Every cell as text: parsing (and reporting what does not parse) is ours.
            table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            table = pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise ContractError(f"{path}: cannot be read: {error}") from error
    return table.reset_index(drop=True)


def read_extract(
    clients_path: str | Path, sessions_path: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate an extract; return the parsed clients and sessions tables.

    Raises:
        ContractError: a file cannot be read.
        ContractViolation: the extract breaks the contract (``.report`` has every failure).
    """
    report = validate_extract(read_table(clients_path), read_table(sessions_path))
    if not report.ok:
        raise ContractViolation(report)
    return report.clients, report.sessions


def validate_extract(clients: pd.DataFrame, sessions: pd.DataFrame) -> ContractReport:
    """Check both tables against every contract rule, including the cross-table ones."""
    clients = clients.reset_index(drop=True)
    sessions = sessions.reset_index(drop=True)
    parsed_clients, client_failures = _parse(clients, ClientsSchema, "clients")
    parsed_sessions, session_failures = _parse(sessions, EpisodeSessionsSchema, "sessions")
    failures = [*client_failures, *session_failures]
    failures += _run_schema(ClientsSchema, parsed_clients, "clients", client_failures)
    episode = _beside_client(parsed_sessions, parsed_clients)
    failures += _run_schema(EpisodeSessionsSchema, episode, "sessions", session_failures)
    report = _failure_frame(failures, clients=parsed_clients, sessions=parsed_sessions)
    return ContractReport(
        failures=report,
        clients=parsed_clients,
        sessions=parsed_sessions.drop(columns=["intake_date", "client_known"], errors="ignore"),
    )


def _beside_client(sessions: pd.DataFrame, clients: pd.DataFrame) -> pd.DataFrame:
    """Sessions with their client's intake date and whether that client exists."""
    if "client_id" not in sessions or "client_id" not in clients:
        return sessions.assign(intake_date=pd.NaT, client_known=True)
    intake = clients.drop_duplicates("client_id").set_index("client_id")
    dates = intake.get("intake_date", pd.Series(dtype="M8[ns]"))
    # reindex, not map: mapping an empty column onto dates fails to cast (pandas 3).
    intake_date = pd.Series(dates.reindex(sessions["client_id"]).to_numpy(), index=sessions.index)
    known = sessions["client_id"].isin(intake.index) | sessions["client_id"].isna()
    return sessions.assign(intake_date=intake_date, client_known=known.astype(bool))


_Failure = tuple[str, int, str, str, str]  # table, index, column, check, value


def _parse(
    raw: pd.DataFrame, schema: type[pa.DataFrameModel], table: str
) -> tuple[pd.DataFrame, list[_Failure]]:
    """Parse each declared column to its contract dtype; list the cells that do not parse.

    Columns the schema does not declare are kept as they are, so the schema's strictness
    reports them.
    """
    columns = schema.to_schema().columns
    parsed = raw.copy()
    failures: list[_Failure] = []
    for name, column in columns.items():
        if name not in raw:
            continue
        kind = _dtype_kind(column.dtype)
        values, bad = _PARSERS[kind](_blank_as_missing(raw[name]))
        parsed[name] = values
        failures += [
            (table, int(i), name, _PARSE_MESSAGES[kind], _show(raw.at[i, name]))
            for i in raw.index[bad]
        ]
    return parsed, failures


def _blank_as_missing(raw: pd.Series) -> pd.Series:
    """An empty or all-space text cell is a missing value, as an empty CSV cell is."""
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        blank = raw.astype("string").str.strip().eq("").fillna(False).to_numpy(dtype=bool)
        if blank.any():
            return raw.astype(object).mask(blank, None)
    return raw


def _dtype_kind(dtype: object) -> str:
    """The parser key of a pandera column dtype (pandas 3 spells text ``string[pyarrow]``)."""
    name = str(dtype)
    return "str" if name.startswith("string") or name == "str" else name


def _parse_text(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = raw.astype("string[pyarrow]").str.strip()
    return text, np.zeros(len(raw), dtype=bool)


def _parse_numbers(raw: pd.Series, *, whole: bool) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw):
        numbers = pd.Series(np.nan, index=raw.index)
    else:
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    numbers = numbers.where(np.isfinite(numbers))
    bad = raw.notna().to_numpy() & numbers.isna().to_numpy()
    if whole:
        fractional = numbers.notna() & (numbers != np.round(numbers))
        bad |= fractional.to_numpy()
        numbers = numbers.where(~fractional)
    return numbers, bad


def _parse_integers(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    numbers, bad = _parse_numbers(raw, whole=True)
    return numbers.astype("Int64"), bad


def _parse_required_integers(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    numbers, bad = _parse_numbers(raw, whole=True)
    # A missing value stays missing (the not-nullable rule reports it): keep the nullable
    # dtype while anything is missing, the plain one otherwise.
    return (numbers.astype("int64") if numbers.notna().all() else numbers.astype("Int64")), bad


def _parse_floats(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    return _parse_numbers(raw, whole=False)


def _parse_booleans(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw):
        values = raw.astype("boolean")
        return values, np.zeros(len(raw), dtype=bool)
    words = raw.astype("string").str.strip().str.lower()
    values = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    values[words.isin(_TRUE_WORDS).fillna(False)] = True
    values[words.isin(_FALSE_WORDS).fillna(False)] = False
    bad = raw.notna().to_numpy() & values.isna().to_numpy()
    return values, bad


def _parse_required_booleans(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    values, bad = _parse_booleans(raw)
    return (values.astype(bool) if values.notna().all() else values), bad


def _parse_dates(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_datetime64_any_dtype(raw):
        dates = raw
    else:
        dates = pd.to_datetime(raw.astype("string"), format="ISO8601", errors="coerce")
    dates = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    bad = raw.notna().to_numpy() & dates.isna().to_numpy()
    return dates.dt.normalize().astype("datetime64[ns]"), bad


_PARSERS = {
    "str": _parse_text,
    "int64": _parse_required_integers,
    "Int64": _parse_integers,
    "float64": _parse_floats,
    "bool": _parse_required_booleans,
    "boolean": _parse_booleans,
    "datetime64[ns]": _parse_dates,
}
_PARSE_MESSAGES = {
    "str": "must be text",
    "int64": "must be a whole number",
    "Int64": "must be a whole number",
    "float64": "must be a number",
    "bool": "must be true or false",
    "boolean": "must be true or false",
    "datetime64[ns]": "must be an ISO 8601 date (YYYY-MM-DD)",
}


def _run_schema(
    schema: type[pa.DataFrameModel],
    table_frame: pd.DataFrame,
    table: str,
    parse_failures: list[_Failure],
) -> list[_Failure]:
    """Run a pandera model lazily; one failure per failing cell, parse failures not repeated."""
    try:
        schema.validate(table_frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    unparsed = {(index, column) for _, index, column, _, _ in parse_failures}
    failures: list[_Failure] = []
    for case in cases.itertuples(index=False):
        check = str(case.check)
        column = str(case.column)
        if case.schema_context == "DataFrameSchema" and column == schema.Config.name:
            # Table-level failure: a missing or unexpected column, not a row.
            failures.append((table, -1, str(case.failure_case), _column_message(check), ""))
            continue
        if case.index is None or pd.isna(case.index):
            continue
        index = int(case.index)
        value = case.failure_case
        if case.schema_context == "DataFrameSchema":
            # A dataframe check lists the failing row once per non-missing cell; report it
            # once, under the column its message names first (duplicates dropped later).
            column, check = check.split(" ", 1)
            value = table_frame.at[index, column] if column in table_frame else None
        elif check.startswith("dtype("):
            continue  # follows from a parse failure already reported
        if (index, column) in unparsed:
            continue
        failures.append((table, index, column, _readable(check), _show(value)))
    return failures


def _column_message(check: str) -> str:
    if check.startswith("column_in_schema"):
        return "unexpected column (not in the data contract)"
    if check.startswith("column_in_dataframe"):
        return "required column is missing"
    return check


_READABLE_PREFIXES = {
    "not_nullable": "must not be empty",
    "field_uniqueness": "must be unique in the table",
    "str_length(1, None)": "must not be empty",
    "greater_than_or_equal_to(": "must be at least ",
    "less_than_or_equal_to(": "must be at most ",
    "isin(": "must be one of ",
}


def _readable(check: str) -> str:
    for prefix, text in _READABLE_PREFIXES.items():
        if check.startswith(prefix):
            return text + (_argument(check[len(prefix) : -1]) if prefix.endswith("(") else "")
    return check


def _argument(text: str) -> str:
    """A check's argument as a person writes it: ``27`` not ``27.0``, a list without quotes."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    if isinstance(value, (tuple, list, set, frozenset)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _failure_frame(
    failures: list[_Failure], *, clients: pd.DataFrame, sessions: pd.DataFrame
) -> pd.DataFrame:
    frame = pd.DataFrame(failures, columns=["table", "index", "column", "check", "value"])
    if frame.empty:
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    tables = {"clients": clients, "sessions": sessions}
    frame["client_id"] = [
        _show(tables[t].at[i, "client_id"]) if i >= 0 and "client_id" in tables[t] else ""
        for t, i in zip(frame["table"], frame["index"], strict=True)
    ]
    frame["row"] = frame["index"] + 1
    frame = frame.drop_duplicates(["table", "index", "column", "check"])
    frame = frame.sort_values(["table", "index", "column"], kind="stable")
    return frame[list(FAILURE_COLUMNS)].reset_index(drop=True)
