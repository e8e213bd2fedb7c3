"""The country seed maps the names GuardDuty reports to ISO 3166-1 alpha-2 codes."""

import csv
import importlib.util

import pytest

from orchestration.lib.environment import DBT_PROJECT_DIR

SCRIPT = DBT_PROJECT_DIR / "scripts" / "build_country_seed.py"
SEED = DBT_PROJECT_DIR / "seeds" / "country_codes.csv"


def _script():
    spec = importlib.util.spec_from_file_location("build_country_seed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed() -> dict[str, tuple[str, str]]:
    with SEED.open(encoding="utf-8", newline="") as handle:
        return {
            row["country_key"]: (row["country_code"], row["country_name"])
            for row in csv.DictReader(handle)
        }


def test_the_committed_seed_is_what_the_script_builds():
    built = _script().build_rows()
    assert [(key, code, name) for key, (code, name) in sorted(_seed().items())] == built


@pytest.mark.parametrize(
    ("reported", "code"),
    [
        ("South Korea", "KR"),
        ("Russia", "RU"),
        ("Vietnam", "VN"),
        ("Türkiye", "TR"),
        ("Côte d'Ivoire", "CI"),
        ("Burma", "MM"),
        ("Myanmar", "MM"),
    ],
)
def test_names_of_the_data_contract_map_to_their_codes(reported, code):
    key = _script().country_key(reported)
    assert _seed()[key][0] == code
