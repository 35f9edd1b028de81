"""The consolidation: what merge hands to the renderers and writes as `<report-id>-<period>.json`.

TypedDicts rather than classes because the structure *is* the JSON the README documents: json.dumps
writes it as is, a file read back is the same shape, and the renderers accept either. Keys are only ever
added (the .docx renderer, the mails and other tools read them).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class PeriodInfo(TypedDict):
    key: str
    kind: str
    label: str  # "tháng 3 năm 2021"
    cutoff_start: str  # ISO dates
    cutoff_end: str
    unit_deadline: str
    report_deadline: str
    next_label: NotRequired[str]  # what "kỳ tới" is: "tháng 4 năm 2021", "6 tháng cuối năm 2021"


class OrganisationInfo(TypedDict):
    supervising_body: str
    issuing_body: str
    place: str
    document_number: str
    recipient_line: str


class GroupInfo(TypedDict):
    code: str
    label: str
    kind: str


class IndicatorInfo(TypedDict):
    code: str
    label: str
    unit: str
    type: Literal["integer", "text"]
    group: str
    aggregation: NotRequired[Literal["count", "level"]]  # integer indicators
    phrase: NotRequired[str | None]  # how the report words the figure ("đăng tải {value} ...")


class PreviousInfo(TypedDict):
    period: str
    label: str
    totals: dict[str, int]  # raw totals over every unit accepted then
    units: NotRequired[list[str]]  # the units counted then
    accepted_count: NotRequired[int]
    expected_count: NotRequired[int]


class ComparisonInfo(TypedDict):
    """Change against the previous period, on the units that reported in both periods (like for like)."""

    period: str
    label: str
    units: list[str]
    units_count: int
    same_units: bool  # both periods counted exactly the same units
    current: dict[str, int]  # totals over `units`, this period
    previous: dict[str, int]  # totals over `units`, the previous period
    change: dict[str, int]  # current - previous


class YearToDateBasis(TypedDict):
    """Which periods year_to_date covers; `from_label` is set when it does not start at the year's first period."""

    periods: list[str]
    missing: list[str]  # periods of the year before this one that were never collected
    missing_labels: list[str]
    from_label: str | None  # "tháng 2/2021"
    shown: bool  # False: year_to_date is {} (nothing beyond this period, or a gap)


class CompletenessCounts(TypedDict):
    expected_count: int
    accepted_count: int
    on_time_count: int
    late_count: int
    missing_count: int
    reporting_rate: float
    on_time_rate: float


class CompletenessInfo(CompletenessCounts):
    expected: list[str]
    accepted: list[str]
    on_time: list[str]
    late: list[str]
    missing: list[str]
    rejected: list[str]
    received_at: dict[str, str]


class RejectedInfo(TypedDict):
    unit: str | None
    received_at: str
    source: str
    errors: list[dict[str, Any]]


class NarrativeItem(TypedDict):
    unit: str
    unit_name: str
    text: str


class Consolidation(TypedDict):
    report_id: str
    report_title: str
    plan_reference: NotRequired[str]
    period: PeriodInfo
    generated_at: str
    organisation: OrganisationInfo
    groups: list[GroupInfo]
    indicators: list[IndicatorInfo]
    main_indicators: list[str]
    totals: dict[str, int]
    group_totals: NotRequired[dict[str, int]]  # {group: sum} where a group's figures share one unit
    year_to_date: dict[str, int]
    year_to_date_basis: NotRequired[YearToDateBasis | None]
    previous: PreviousInfo | None
    comparison: NotRequired[ComparisonInfo | None]
    values_by_unit: dict[str, dict[str, Any]]
    units: dict[str, str]
    completeness: CompletenessInfo
    rejected: list[RejectedInfo]
    narratives: dict[str, list[NarrativeItem]]
    narrative_sections: list[dict[str, str]]
    outline: NotRequired[dict[str, Any]]  # the report body's sections and parts (config Outline, as JSON)
    recipients: list[str]
    signer: dict[str, str]


class TotalLine(TypedDict):
    code: str
    label: str
    total: int


class CompletenessBrief(CompletenessCounts):
    """The counts of CompletenessInfo, and at most BRIEF_UNITS of the missing units (`missing_more`: the rest)."""

    missing: list[str]
    missing_more: int


class ConsolidationBrief(TypedDict):
    """What a consolidation run hands to Prefect and prints: bounded, whatever the number of units (the full
    consolidation is the JSON file `json` names)."""

    period: str
    label: str
    json: str
    completeness: CompletenessBrief
    main_totals: list[TotalLine]
