"""Regenerate seeds/country_codes.csv: country name key -> ISO 3166-1 alpha-2 code.

Run from the repository root: `.venv/bin/python dbt_project/scripts/build_country_seed.py`.
The key rule must stay identical to the `country_key` macro (macros/parsing.sql).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import pycountry

SEED_PATH = Path(__file__).resolve().parents[1] / "seeds" / "country_codes.csv"

# Names GuardDuty (MaxMind GeoIP) and common usage give that pycountry does not. The first name of
# each code here is also its display name.
ALIASES: dict[str, list[str]] = {
    "BO": ["Bolivia"],
    "CD": ["Democratic Republic of the Congo", "DR Congo", "Congo (Kinshasa)"],
    "CG": ["Republic of the Congo", "Congo (Brazzaville)"],
    "CI": ["Côte d'Ivoire", "Ivory Coast"],
    "CV": ["Cape Verde"],
    "CZ": ["Czechia", "Czech Republic"],
    "FM": ["Micronesia", "Federated States of Micronesia"],
    "GB": ["United Kingdom", "Great Britain", "UK"],
    "HK": ["Hong Kong"],
    "IR": ["Iran"],
    "KP": ["North Korea", "Democratic People's Republic of Korea"],
    "KR": ["South Korea", "Republic of Korea", "Korea"],
    "LA": ["Laos"],
    "MD": ["Moldova", "Republic of Moldova"],
    "MK": ["North Macedonia", "Macedonia"],
    "MM": ["Myanmar", "Burma"],
    "MO": ["Macao", "Macau"],
    "PS": ["Palestine", "Palestinian Territory"],
    "RU": ["Russia"],
    "SY": ["Syria"],
    "SZ": ["Eswatini", "Swaziland"],
    "TR": ["Türkiye", "Turkey"],
    "TW": ["Taiwan"],
    "TZ": ["Tanzania"],
    "US": ["United States", "United States of America", "USA"],
    "VA": ["Vatican City", "Holy See"],
    "VE": ["Venezuela"],
    "VN": ["Vietnam", "Viet Nam"],
    "XK": ["Kosovo"],
    "NL": ["Netherlands", "The Netherlands"],
    "BN": ["Brunei"],
}


def country_key(name: str) -> str:
    """Accents stripped, lowercased, only [a-z0-9] kept (the `country_key` macro)."""
    decomposed = unicodedata.normalize("NFD", name)
    stripped = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return re.sub(r"[^a-z0-9]", "", stripped.lower())


def build_rows() -> list[tuple[str, str, str]]:
    display: dict[str, str] = {}
    names: dict[str, set[str]] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        display[code] = getattr(country, "common_name", None) or country.name
        names.setdefault(code, set()).update(
            value
            for value in (
                country.name,
                getattr(country, "common_name", None),
                getattr(country, "official_name", None),
            )
            if value
        )
    for code, aliases in ALIASES.items():
        if len(code) != 2 or not aliases:
            continue
        display[code] = aliases[0]
        names.setdefault(code, set()).update(aliases)
    rows: dict[str, tuple[str, str]] = {}
    for code, code_names in names.items():
        for name in code_names:
            key = country_key(name)
            # Aliases win over pycountry's names when a key is shared.
            if key and (key not in rows or name in ALIASES.get(code, [])):
                rows[key] = (code, display[code])
    return sorted((key, code, name) for key, (code, name) in rows.items())


def main() -> None:
    with SEED_PATH.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["country_key", "country_code", "country_name"])
        writer.writerows(build_rows())


if __name__ == "__main__":
    main()
