"""Where remote actors come from: countries as GuardDuty names them, their networks, addresses."""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from tools.demo_corpus.random_values import pick, randrange, weighted


@dataclass(frozen=True)
class Country:
    """A country as GuardDuty names it, with plausible places, address blocks and networks."""

    name: str
    code: str
    weight: int
    centroid: tuple[float, float]
    cities: tuple[tuple[str, float, float], ...]
    ipv4_first_octets: tuple[int, ...]
    ipv6_prefix: str
    networks: tuple[tuple[str, str, str], ...]  # (asn, asnOrg, isp)


COUNTRIES_FILE = Path(__file__).with_name("countries.toml")


def _load_countries() -> tuple[Country, ...]:
    with COUNTRIES_FILE.open("rb") as file:
        entries = tomllib.load(file)["countries"]
    return tuple(
        Country(
            name=entry["name"],
            code=entry["code"],
            weight=entry["weight"],
            centroid=tuple(entry["centroid"]),
            cities=tuple(tuple(city) for city in entry["cities"]),
            ipv4_first_octets=tuple(entry["ipv4_first_octets"]),
            ipv6_prefix=entry["ipv6_prefix"],
            networks=tuple(tuple(network) for network in entry["networks"]),
        )
        for entry in entries
    )


COUNTRIES = _load_countries()
COUNTRY_CODES_BY_NAME = {country.name: country.code for country in COUNTRIES}
_COUNTRY_BY_NAME = {country.name: country for country in COUNTRIES}
_COUNTRY_CUMULATIVE = tuple(accumulate(country.weight for country in COUNTRIES))


def public_ipv4(rng: random.Random, country: Country) -> str:
    first = pick(rng, country.ipv4_first_octets)
    bits = rng.getrandbits(24)
    return f"{first}.{bits >> 16}.{(bits >> 8) & 0xFF}.{(bits & 0xFF) % 254 + 1}"


def public_ipv6(rng: random.Random, country: Country) -> str:
    return (
        f"{country.ipv6_prefix}:{randrange(rng, 1, 0xFFFF):x}:{randrange(rng, 0xFFFF):x}::"
        f"{randrange(rng, 1, 0xFFFF):x}"
    )


def private_ipv4(rng: random.Random) -> str:
    bits = rng.getrandbits(24)
    return f"10.{bits >> 16}.{(bits >> 8) & 0xFF}.{(bits & 0xFF) % 246 + 4}"


def pick_country(rng: random.Random) -> Country:
    """A country drawn with weights like those of real attack sources."""
    return weighted(rng, COUNTRIES, _COUNTRY_CUMULATIVE)


def remote_ip_details(
    rng: random.Random,
    *,
    ipv6: bool = False,
    country_name: str | None = None,
    sample: bool = False,
) -> dict[str, Any]:
    """A ``remoteIpDetails`` object as GuardDuty writes it.

    Args:
        rng: The random source.
        ipv6: Give an ``ipAddressV6`` instead of an ``ipAddressV4``.
        country_name: Force the country (a name of `COUNTRIES`, or ``""`` for unknown); drawn
            from `COUNTRIES` when None, with a small share of unknown countries.
        sample: Use the placeholder values of GuardDuty sample findings.

    Returns:
        The camelCase dict.
    """
    if sample:
        return {
            "ipAddressV4": "198.51.100.0",
            "organization": {
                "asn": pick(rng, ("-1", "0")),
                "asnOrg": "GeneratedFindingASNOrg",
                "isp": "GeneratedFindingISP",
                "org": "GeneratedFindingORG",
            },
            "country": {"countryName": "GeneratedFindingCountryName"},
            "city": {"cityName": "GeneratedFindingCityName"},
            "geoLocation": {"lat": 0, "lon": 0},
        }
    if country_name is None and rng.random() < 0.03:
        country_name = ""
    if country_name and country_name not in _COUNTRY_BY_NAME:
        raise ValueError(f"unknown country {country_name!r}; use a name of COUNTRIES or ''")
    country = pick_country(rng) if country_name is None else _COUNTRY_BY_NAME.get(country_name)
    if country is None:  # unknown location: GuardDuty still knows the network
        fallback = pick_country(rng)
        asn, asn_org, isp = pick(rng, fallback.networks)
        details: dict[str, Any] = {
            "ipAddressV6" if ipv6 else "ipAddressV4": (
                public_ipv6(rng, fallback) if ipv6 else public_ipv4(rng, fallback)
            ),
            "organization": {"asn": asn, "asnOrg": asn_org, "isp": isp, "org": isp},
            "country": {"countryName": ""},
            "city": {"cityName": ""},
        }
        return details
    asn, asn_org, isp = pick(rng, country.networks)
    if rng.random() < 0.15:
        city_name, lat, lon = "", *country.centroid
    else:
        city_name, lat, lon = pick(rng, country.cities)
    country_value = {"countryName": country.name}
    if rng.random() < 0.15:
        country_value = {"countryCode": country.code, "countryName": country.name}
    return {
        "ipAddressV6" if ipv6 else "ipAddressV4": (
            public_ipv6(rng, country) if ipv6 else public_ipv4(rng, country)
        ),
        "organization": {"asn": asn, "asnOrg": asn_org, "isp": isp, "org": isp},
        "country": country_value,
        "city": {"cityName": city_name},
        "geoLocation": {"lat": lat, "lon": lon},
    }


def _coordinates(number: int, lat: float, lon: float) -> dict[str, float]:
    return {"lat": lat, "lon": lon} if number % 2 else {"latitude": lat, "longitude": lon}


def endpoint(rng: random.Random, number: int) -> dict[str, Any]:
    country = pick_country(rng)
    asn, asn_org, _ = pick(rng, country.networks)
    city_name, lat, lon = pick(rng, country.cities)
    return {
        "id": f"endpoint-{number}",
        "ip": public_ipv4(rng, country),
        # The API model's wire names are lat/lon; the data contract documents latitude/longitude.
        # Both appear, so the models are exercised on either spelling.
        "location": {"city": city_name, "country": country.name, **_coordinates(number, lat, lon)},
        "autonomousSystem": {"name": asn_org, "number": int(asn)},
        "connection": {"direction": "INBOUND"},
    }
