"""Epoch milliseconds, the corpus's one clock, and the text forms GuardDuty writes them in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


EPOCH = datetime(1970, 1, 1)


def iso(epoch_ms: int, with_ms: bool = True) -> str:
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds" if with_ms else "seconds") + "Z"


def from_iso(text: str) -> int:
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def date_path(epoch_ms: int, with_hour: bool = False) -> str:
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    text = f"{moment.year:04d}/{moment.month:02d}/{moment.day:02d}"
    return f"{text}/{moment.hour:02d}" if with_hour else text
