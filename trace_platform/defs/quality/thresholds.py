"""Loads and validates thresholds.yaml, the one configuration of the data-quality checks."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).with_name("thresholds.yaml")
ENV_VAR = "TRACE_PLATFORM_QUALITY_THRESHOLDS"
RULE_IDS = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R7T", "R8", "R10")


class ThresholdsError(ValueError):
    """thresholds.yaml is malformed (unknown key, value out of range)."""


@dataclass(frozen=True)
class Thresholds:
    trailing_days: int
    example_keys: int
    rule_max_rate: dict[str, float]
    quarantine_max_rate: float
    drift_max_rate: float
    volume_band: float
    volume_min_history_days: int
    future_skew_minutes: int
    late_max_share: float
    final_result_min_share: float
    model_version_min_share: float
    freshness_deadline_utc: str
    freshness_window_hours: int
    source: str

    @property
    def freshness_deadline_cron(self) -> str:
        hour, minute = (int(part) for part in self.freshness_deadline_utc.split(":"))
        return f"{minute} {hour} * * *"


def _merge(base: dict, override: dict, path: str = "") -> dict:
    merged = dict(base)
    for key, value in (override or {}).items():
        where = f"{path}{key}"
        if key not in base:
            raise ThresholdsError(f"unknown key {where!r} (known: {', '.join(map(str, base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ThresholdsError(f"{where!r} must be a mapping")
            merged[key] = _merge(base[key], value, f"{where}.")
        else:
            merged[key] = value
    return merged


def _fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ThresholdsError(f"{where} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _positive_int(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ThresholdsError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ThresholdsError(f"cannot read thresholds file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ThresholdsError(f"{path} must contain a mapping")
    return data


def load_thresholds(path: str | os.PathLike | None = None) -> Thresholds:
    """The defaults of thresholds.yaml, overridden by `path` or $TRACE_PLATFORM_QUALITY_THRESHOLDS."""
    raw = _read(DEFAULT_PATH)
    override_path = path or os.environ.get(ENV_VAR) or None
    source = str(DEFAULT_PATH)
    if override_path and Path(override_path).resolve() != DEFAULT_PATH.resolve():
        raw = _merge(raw, _read(Path(override_path)))
        source = str(Path(override_path))
    rules = {}
    for rule_id, rule in raw["rules"].items():
        if rule_id not in RULE_IDS:
            raise ThresholdsError(
                f"rules.{rule_id}: not an audit rule with a threshold ({', '.join(RULE_IDS)})"
            )
        rules[rule_id] = _fraction((rule or {}).get("max_rate"), f"rules.{rule_id}.max_rate")
    missing = [r for r in RULE_IDS if r not in rules]
    if missing:
        raise ThresholdsError(f"rules: missing {', '.join(missing)}")
    deadline = str(raw["freshness"]["deadline_utc"])
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", deadline)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ThresholdsError(f"freshness.deadline_utc must be HH:MM, got {deadline!r}")
    window = _positive_int(raw["freshness"]["window_hours"], "freshness.window_hours")
    if window > 24:
        raise ThresholdsError("freshness.window_hours must be <= 24 (the deadline recurs daily)")
    band = raw["volume"]["band"]
    if isinstance(band, bool) or not isinstance(band, int | float) or band <= 0:
        raise ThresholdsError(f"volume.band must be a positive number, got {band!r}")
    return Thresholds(
        trailing_days=_positive_int(raw["trailing_days"], "trailing_days"),
        example_keys=_positive_int(raw["example_keys"], "example_keys"),
        rule_max_rate=rules,
        quarantine_max_rate=_fraction(raw["ingest"]["quarantine_max_rate"], "ingest.quarantine_max_rate"),
        drift_max_rate=_fraction(raw["schema"]["drift_max_rate"], "schema.drift_max_rate"),
        volume_band=float(band),
        volume_min_history_days=_positive_int(raw["volume"]["min_history_days"], "volume.min_history_days"),
        future_skew_minutes=_positive_int(raw["gx"]["future_skew_minutes"], "gx.future_skew_minutes", 0),
        late_max_share=_fraction(raw["gx"]["late_max_share"], "gx.late_max_share"),
        final_result_min_share=_fraction(raw["gx"]["final_result_min_share"], "gx.final_result_min_share"),
        model_version_min_share=_fraction(raw["gx"]["model_version_min_share"], "gx.model_version_min_share"),
        freshness_deadline_utc=f"{int(match[1]):02d}:{match[2]}",
        freshness_window_hours=window,
        source=source,
    )


def freshness_policy(thresholds: Thresholds | None = None):
    """The marts' FreshnessPolicy: materialised within window_hours before each daily deadline (UTC)."""
    import dagster as dg

    t = thresholds or load_thresholds()
    return dg.FreshnessPolicy.cron(
        deadline_cron=t.freshness_deadline_cron,
        lower_bound_delta=dt.timedelta(hours=t.freshness_window_hours),
        timezone="UTC",
    )
