"""Bulk scoring of a FHIR Bulk Data export: NDJSON per resource type in, RiskAssessments out.

``dropout-risk score-fhir`` (docs/fhir.md, "Bulk scoring") reads what ``Group/$export``
writes: ``Patient.ndjson``, ``EpisodeOfCare.ndjson``, ``Encounter.ndjson``,
``Appointment.ndjson``, ``Observation.ndjson``, ``QuestionnaireResponse.ndjson`` (and
``Questionnaire.ndjson``), each possibly split as ``Type.1.ndjson``, ``Type.2.ndjson``...
It writes ``RiskAssessment.ndjson``: two per patient (dropout, poor outcome) as of the
patient's latest session, with the probabilities ``dropout-risk score`` gives from the same
facts as tables (exact, not rounded), and ``OperationOutcome.ndjson`` with what could not be
read.

Memory stays bounded whatever the export's size, in two passes:

1. every line is read once, its patient found (``Patient.id``, ``subject``, ``patient`` or
   the Appointment's Patient participant) and the line copied, with its file and line
   number, to one of B temporary bucket files chosen by a hash of the patient's id; B grows
   with the export (about :data:`BUCKET_BYTES` of input per bucket), so a bucket's size
   does not;
2. bucket by bucket, each patient's resources go through the FHIR operation's own mapping
   (:func:`service.fhir.inbound.read_resources`, one feature path for every caller) and the
   patients are scored in chunks through the model's batch path
   (:func:`service.scoring.assess_many`); the RiskAssessments come from the FHIR operation's
   builder (:func:`service.fhir.outbound.risk_assessments`).

A malformed line (not JSON, not a resource, no patient) is reported with its file and line
number and left out; a patient whose resources cannot be mapped is reported with every issue
(each at ``file:line:Type.element``) and not scored; everyone else is.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from models.bundle import RiskModel
from service.fhir.inbound import FhirEpisode, read_resources
from service.fhir.issues import FhirInputError, FhirIssue, operation_outcome
from service.fhir.outbound import risk_assessments
from service.scoring import assess_many

#: The resource types read from an export, in the order their files are read.
BULK_TYPES = (
    "Patient",
    "EpisodeOfCare",
    "Encounter",
    "Appointment",
    "Observation",
    "QuestionnaireResponse",
    "Questionnaire",
)
#: Input bytes per temporary bucket: what one bucket holds in memory while it is scored.
BUCKET_BYTES = 32 * 1024 * 1024
#: At most this many buckets (open files) at once; beyond, buckets grow with the export.
MAX_BUCKETS = 512
#: Patients scored per pass through the model.
CHUNK = 1000
#: Problems printed on screen; all of them go to OperationOutcome.ndjson.
SHOWN_PROBLEMS = 20
OUTPUT = "RiskAssessment.ndjson"
PROBLEMS = "OperationOutcome.ndjson"

_FILE_NAME = re.compile(r"^(?P<kind>[A-Za-z]+)(?:\.(?P<part>\d+))?\.ndjson$")


@dataclass(frozen=True)
class Problem:
    """Something in the export that was not scored: where, and why."""

    where: str
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class BulkResult:
    """What a run did."""

    files: list[Path] = field(default_factory=list)
    ignored_files: list[Path] = field(default_factory=list)
    lines: int = 0
    patients: int = 0
    scored: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0
    _sink: IO[str] | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        """Every line read and every patient scored."""
        return self.problem_count == 0

    def report(self, problem: Problem) -> None:
        """Count ``problem``, keep the first few, and write it to OperationOutcome.ndjson."""
        self.problem_count += 1
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append(problem)  # the rest only on disk: memory stays bounded
        if self._sink is not None:
            self._sink.write(json.dumps(_outcome(problem)) + "\n")


Progress = Callable[[str], None]


def export_files(directory: Path) -> tuple[list[tuple[str, Path]], list[Path]]:
    """The NDJSON files of the types read (type, path) in reading order, and those ignored."""
    found, ignored = [], []
    for path in sorted(directory.iterdir()):
        match = _FILE_NAME.match(path.name)
        if not path.is_file() or not path.name.endswith(".ndjson"):
            continue
        if match is None or match["kind"] not in BULK_TYPES:
            ignored.append(path)
            continue
        found.append((match["kind"], int(match["part"] or 0), path))
    found.sort(key=lambda item: (BULK_TYPES.index(item[0]), item[1], item[2].name))
    return [(kind, path) for kind, _, path in found], ignored


def patient_key(resource: dict[str, Any]) -> str | None:
    """The id of the Patient a resource belongs to (None when it names none we can match)."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        key = resource.get("id")
        return key if isinstance(key, str) and key else None
    if kind == "EpisodeOfCare":
        return _patient_id(resource.get("patient"))
    if kind == "Appointment":
        participants = resource.get("participant")
        for participant in participants if isinstance(participants, list) else ():
            if isinstance(participant, dict) and (key := _patient_id(participant.get("actor"))):
                return key
        return None
    return _patient_id(resource.get("subject"))


def _patient_id(reference: object) -> str | None:
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = [part for part in reference["reference"].split("/") if part]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    return None


def score_export(
    model: RiskModel,
    source: Path,
    out: Path,
    *,
    model_name: str,
    model_version: str,
    factors: int,
    progress: Progress = lambda message: None,
    bucket_bytes: int = BUCKET_BYTES,
    chunk: int = CHUNK,
) -> BulkResult:
    """Score every patient of the Bulk Data export in ``source``; write the results to ``out``.

    Args:
        model: the bundle to score with.
        source: the export's directory.
        out: the output directory (created): ``RiskAssessment.ndjson`` and, when something
            could not be read, ``OperationOutcome.ndjson``.
        model_name: the registered name of ``model`` (in each RiskAssessment's method).
        model_version: its version.
        factors: factors per outcome in each RiskAssessment's rationale (0: none).
        progress: called with a line of progress now and then.
        bucket_bytes: input bytes per temporary bucket (memory per bucket).
        chunk: patients per pass through the model.

    Raises:
        FileNotFoundError: ``source`` is not a directory or holds no file of a type read.
    """
    started = time.perf_counter()
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such directory")
    files, ignored = export_files(source)
    if not files:
        names = ", ".join(f"{kind}.ndjson" for kind in BULK_TYPES[:-1])
        raise FileNotFoundError(f"{source}: no export files ({names})")
    result = BulkResult(files=[path for _, path in files], ignored_files=ignored)
    total = sum(path.stat().st_size for path in result.files)
    buckets = max(1, min(MAX_BUCKETS, -(-total // max(1, bucket_bytes))))
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    problems_path = out / PROBLEMS
    with (
        problems_path.open("w", encoding="utf-8") as sink,
        tempfile.TemporaryDirectory(prefix=".score-fhir-", dir=out) as scratch,
    ):
        result._sink = sink
        paths = [Path(scratch) / f"bucket-{n:04d}.jsonl" for n in range(buckets)]
        names = [path.name for path in result.files]
        progress(
            f"pass 1: reading {len(files)} files ({total / 1e6:,.1f} MB) into {buckets} buckets"
        )
        shared = _partition(files, paths, result, progress)
        progress(f"pass 2: scoring {result.patients:,} patients")
        with (out / OUTPUT).open("w", encoding="utf-8") as output:
            for number, path in enumerate(paths):
                for group in _chunks(_patients(path, names), chunk):
                    _score_chunk(
                        group, shared, model, output, result, now,
                        model_name=model_name, model_version=model_version, factors=factors,
                    )  # fmt: skip
                    elapsed = time.perf_counter() - started
                    progress(
                        f"bucket {number + 1}/{buckets}: scored {result.scored:,} of "
                        f"{result.patients:,} patients ({result.scored / elapsed:,.0f}/s)"
                    )
                path.unlink()
    result._sink = None
    if result.complete:
        problems_path.unlink()  # nothing to report
    result.seconds = time.perf_counter() - started
    return result


def _partition(
    files: Sequence[tuple[str, Path]], buckets: Sequence[Path], result: BulkResult, progress
) -> list[tuple[str, dict[str, Any]]]:
    """Pass 1: each line to its patient's bucket; returns the shared Questionnaires."""
    shared: list[tuple[str, dict[str, Any]]] = []
    with ExitStack() as stack:
        handles: list[IO[str]] = [
            stack.enter_context(path.open("w", encoding="utf-8")) for path in buckets
        ]
        for file_number, (kind, path) in enumerate(files):
            read = 0
            with path.open("rb") as lines:
                for line_number, raw in enumerate(lines, start=1):
                    text = raw.strip()
                    if not text:
                        continue
                    read += 1
                    where = f"{path.name}:{line_number}"
                    resource = _resource(text, where, result)
                    if resource is None:
                        continue
                    key = patient_key(resource)
                    if key is None:
                        if resource["resourceType"] == "Questionnaire":
                            shared.append((f"{where}:Questionnaire", resource))
                            continue
                        message = (
                            "a Patient needs an id"
                            if resource["resourceType"] == "Patient"
                            else "names no Patient (subject, patient or participant.actor)"
                        )
                        result.report(Problem(where, message, "required"))
                        continue
                    if resource["resourceType"] == "Patient":
                        result.patients += 1
                    header = json.dumps([key, file_number, line_number])
                    bucket = zlib.crc32(key.encode("utf-8")) % len(handles)
                    handles[bucket].write(f"{header}\t{text.decode('utf-8')}\n")
            result.lines += read
            progress(f"read {path.name}: {read:,} resources ({kind})")
    return shared


def _resource(text: bytes, where: str, result: BulkResult) -> dict[str, Any] | None:
    try:
        text.decode("utf-8")  # NDJSON is UTF-8 (json.loads would also take UTF-16 or 32)
        resource = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        # UnicodeDecodeError is a ValueError: a line that is not UTF-8 lands here too.
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8 JSON"
        result.report(Problem(where, f"not a JSON line ({reason})", "structure"))
        return None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        result.report(Problem(where, "not a FHIR resource (no resourceType)", "structure"))
        return None
    return resource


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _patients(path: Path, names: Sequence[str]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The patients of one bucket: id and its (location, line) pairs, in reading order."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            header, text = line.rstrip("\n").split("\t", 1)
            key, file_number, line_number = json.loads(header)
            grouped.setdefault(key, []).append((f"{names[file_number]}:{line_number}", text))
    yield from grouped.items()


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    group = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _score_chunk(
    group: list[tuple[str, list[tuple[str, str]]]],
    shared: list[tuple[str, dict[str, Any]]],
    model: RiskModel,
    output: IO[str],
    result: BulkResult,
    now: datetime,
    *,
    model_name: str,
    model_version: str,
    factors: int,
) -> None:
    episodes: list[FhirEpisode] = []
    for key, lines in group:
        resources = [json.loads(text) for _, text in lines]
        locations = [
            f"{where}:{resource['resourceType']}"
            for (where, _), resource in zip(lines, resources, strict=True)
        ]
        for where, questionnaire in shared:
            resources.append(questionnaire)
            locations.append(where)
        try:
            episodes.append(read_resources(resources, locations))
        except FhirInputError as error:
            for problem in _patient_problems(key, error.issues):
                result.report(problem)
    if not episodes:
        return
    responses = assess_many(
        model,
        [episode.request for episode in episodes],
        model_name=model_name,
        model_version=model_version,
        factors=factors,
        digits=None,
    )
    for episode, response in zip(episodes, responses, strict=True):
        if episode.warnings:
            response = response.model_copy(
                update={"warnings": [*episode.warnings, *response.warnings]}
            )
        for resource in risk_assessments(
            response,
            patient_reference=episode.patient_reference,
            basis_references=episode.basis(response.as_of_session),
            occurrence=now,
        ):
            output.write(json.dumps(resource) + "\n")
        result.scored += 1


def _patient_problems(key: str, issues: Sequence[FhirIssue]) -> list[Problem]:
    return [
        Problem(f"Patient/{key}", f"not scored: {issue.path}: {issue.message}", issue.code)
        for issue in issues
    ]


def _outcome(problem: Problem) -> dict[str, Any]:
    return operation_outcome([FhirIssue(problem.where, problem.message, problem.code)])  # type: ignore[arg-type]
