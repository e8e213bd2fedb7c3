"""Deterministic draws from a ``random.Random`` and ids that depend only on their parts."""

from __future__ import annotations

import bisect
import hashlib
import random
import uuid
from collections.abc import Sequence
from functools import cache
from typing import TypeVar

T = TypeVar("T")


# random.Random.choice/randrange/randint are slow pure-Python wrappers; these draw from
# rng.random() directly, which keeps a million-version corpus quick while staying deterministic.
def pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def randrange(rng: random.Random, start: int, stop: int | None = None) -> int:
    if stop is None:
        start, stop = 0, start
    return start + int(rng.random() * (stop - start))


def randint(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def weighted(rng: random.Random, items: Sequence[T], cumulative: Sequence[float]) -> T:
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def random_hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(length * 4):0{length}x}"


@cache
def stable_hex(*parts: object, length: int = 16) -> str:
    """A hex id that depends only on its parts, so resources recur across findings."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).hexdigest()
    return digest[:length]


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (never from the operating system)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def detector_id(account_id: str, region: str) -> str:
    """The detector id of an account in a region: stable, 32 hex characters."""
    return stable_hex("detector", account_id, region, length=32)
