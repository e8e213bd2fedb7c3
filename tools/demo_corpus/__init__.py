"""Deterministic demo corpus of GuardDuty findings, in every input layout of the data contract.

The corpus is what ``make run`` ingests when no source is configured, and what benchmarks and tests
use as realistic input. Everything is derived from ``random.Random(seed)`` and the end date, so the
same arguments write byte-identical files. Findings are streamed to disk as they are generated, so
a million versions need no more memory than five thousand.

Layouts written under the target directory (see docs/data-contract.md, section 2):

    eventbridge/YYYY/MM/DD/HH/<uuid>.json[.gz]                       one EventBridge event
    AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz  native export, a finding a line
    findings-api/<account>/<region>/<uuid>.json[.gz]                 a finding, or a JSON array
    get-findings/<account>/<region>/<uuid>.json                      GetFindings output, either case

The builder functions (`build_finding`, `build_next_version`, `to_pascal_case`,
`eventbridge_event`) are public so that tests can write their own fixtures with the same shapes.
Callers import from the package itself; the modules below it are its implementation.
"""

from tools.demo_corpus.corpus import NON_FINDING_DETAIL_TYPES, generate_demo_corpus
from tools.demo_corpus.findings import (
    ACCOUNT_REGIONS,
    DEFAULT_CREATED_AT,
    FINDING_DETAIL_TYPE,
    SAMPLE_FORMS,
    build_finding,
    build_next_version,
    eventbridge_event,
)
from tools.demo_corpus.geography import (
    COUNTRIES,
    COUNTRY_CODES_BY_NAME,
    Country,
    pick_country,
    remote_ip_details,
)
from tools.demo_corpus.kinds import ACTION_TYPES, NO_ACTION_FEATURES
from tools.demo_corpus.layouts import (
    ALL_LAYOUTS,
    LAYOUT_EVENTBRIDGE,
    LAYOUT_FINDINGS_API,
    LAYOUT_GET_FINDINGS,
    LAYOUT_NATIVE_EXPORT,
)
from tools.demo_corpus.pascal_case import to_pascal_case
from tools.demo_corpus.random_values import detector_id, random_uuid
from tools.demo_corpus.summary import CorpusSummary

__all__ = [
    "ACCOUNT_REGIONS",
    "ACTION_TYPES",
    "ALL_LAYOUTS",
    "COUNTRIES",
    "COUNTRY_CODES_BY_NAME",
    "DEFAULT_CREATED_AT",
    "FINDING_DETAIL_TYPE",
    "LAYOUT_EVENTBRIDGE",
    "LAYOUT_FINDINGS_API",
    "LAYOUT_GET_FINDINGS",
    "LAYOUT_NATIVE_EXPORT",
    "NON_FINDING_DETAIL_TYPES",
    "NO_ACTION_FEATURES",
    "SAMPLE_FORMS",
    "CorpusSummary",
    "Country",
    "build_finding",
    "build_next_version",
    "detector_id",
    "eventbridge_event",
    "generate_demo_corpus",
    "pick_country",
    "random_uuid",
    "remote_ip_details",
    "to_pascal_case",
]
