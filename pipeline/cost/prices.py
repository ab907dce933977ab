"""The offline price table shipped with csvpipe (``prices.toml``): read, checked, one region.

Why a file, not code: each price carries its source page and the date it was read, so the
output can always say how old the table is, and updating a price is an edit of one figure.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cost.exceptions import CostError

TABLE = Path(__file__).with_name("prices.toml")
REQUIRED = (
    "lambda_request",
    "lambda_gb_second_x86_64",
    "lambda_gb_second_arm64",
    "s3_put_copy_post_list",
    "s3_get_select",
    "s3_standard_gb_month",
    "sqs_standard_request",
    "glue_etl_dpu_hour",
    "glue_crawler_dpu_hour",
    "cloudwatch_logs_ingest_gb",
    "quicksight_author_month",
    "quicksight_reader_month",
)
SOURCE_FIELDS = ("page", "source", "checked", "seen_in")


@dataclass(frozen=True)
class Price:
    """One list price: ``price`` dollars per ``per`` ``unit``, and where it was read."""

    key: str
    price: float
    per: float
    unit: str
    page: str
    source: str
    checked: str
    seen_in: str

    @property
    def each(self) -> float:
        """Dollars per one unit."""
        return self.price / self.per

    def label(self) -> str:
        """``$0.005 per 1,000 requests``."""
        per = f"{self.per:,.0f} " if self.per != 1 else ""
        return f"${self.price:.10f}".rstrip("0").rstrip(".") + f" per {per}{self.unit}"


@dataclass(frozen=True)
class PriceTable:
    """The prices of one region, the table's date and the billing minimums."""

    date: str
    region: str
    region_name: str
    prices: Mapping[str, Price]
    glue_job_minimum_seconds: float
    glue_crawler_minimum_seconds: float

    def __getitem__(self, key: str) -> Price:
        return self.prices[key]


def regions(document: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(document.get("regions", {})))


def read_document(path: Path = TABLE) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CostError(f"price table {path}: cannot be read ({exc})") from None


def table_for(document: Mapping[str, Any], region: str, path: Path = TABLE) -> PriceTable:
    """The prices of ``region``; a CostError naming the regions the table has otherwise."""
    known = regions(document)
    if region not in known:
        raise CostError(
            f"the price table of {document.get('date', '?')} has no verified prices for region "
            f"{region!r} (it has {', '.join(known)}); choose one with --region"
        )
    entry = document["regions"][region]
    prices: dict[str, Price] = {}
    for key in REQUIRED:
        raw = entry.get("prices", {}).get(key)
        if not isinstance(raw, dict):
            raise CostError(f"price table {path}: region {region} lacks the price {key!r}")
        missing = [name for name in ("price", "per", "unit", *SOURCE_FIELDS) if not raw.get(name)]
        if missing:
            raise CostError(f"price table {path}: {region} {key} lacks {', '.join(missing)}")
        prices[key] = Price(
            key,
            float(raw["price"]),
            float(raw["per"]),
            str(raw["unit"]),
            *(str(raw[name]) for name in SOURCE_FIELDS),
        )
    billing = document.get("billing", {})
    return PriceTable(
        date=str(document["date"]),
        region=region,
        region_name=str(entry.get("name", region)),
        prices=prices,
        glue_job_minimum_seconds=float(billing["glue_job_minimum_seconds"]),
        glue_crawler_minimum_seconds=float(billing["glue_crawler_minimum_seconds"]),
    )


def load(region: str, path: Path = TABLE) -> PriceTable:
    """The shipped table's prices for ``region``."""
    return table_for(read_document(path), region, path)
