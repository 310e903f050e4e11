"""The campaign plan file: what it accepts, what it refuses (naming the field), what it changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optichannel.campaign_plan import CampaignPlan, PlanError, load_plan
from optichannel.capacity import plan_layout
from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS
from optichannel.economics import Economics
from optichannel.hour_slots import slot_grid

ISSUE_EXAMPLE = """
budget: 300                     # total outreach cost of the campaign, currency units
economics:                      # overrides the model's training economics, no retraining
  value_per_conversion: 60
  cost: {email: 0.005, sms: 0.05, push: 0.001, call: 2.0, messenger: 0.03}
capacity:
  call: {per_hour: 15, timezone: Europe/Moscow, hours: [9, 18], weekdays: [0, 1, 2, 3, 4]}
  sms: {per_day: 200}
quiet_hours:                    # allowed customer-local hours [start, end) per channel
  push: [9, 21]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spring.yaml"
    path.write_text(text)
    return path


def test_the_documented_example_loads_and_overrides_economics_and_hours(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path, ISSUE_EXAMPLE))
    assert plan.name == "spring" and plan.budget == 300 and plan.constrained
    econ = plan.apply_economics(Economics(value_per_conversion=50.0, max_contacts_7d=4))
    assert econ.value_per_conversion == 60 and econ.cost["call"] == 2.0 and econ.max_contacts_7d == 4
    hours = plan.allowed_hours(DEFAULT_ALLOWED_HOURS)
    assert hours["push"] == (9, 21) and hours["sms"] == DEFAULT_ALLOWED_HOURS["sms"]


def test_an_empty_plan_changes_nothing(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path, ""))
    base = Economics()
    assert not plan.constrained and plan.apply_economics(base) == base
    assert plan.allowed_hours(DEFAULT_ALLOWED_HOURS) == dict(DEFAULT_ALLOWED_HOURS)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("capacity:\n  call: {per_hour: -1}\n", "capacity.call.per_hour"),
        ("capacity:\n  fax: {per_hour: 3}\n", "capacity.fax"),
        ("capcity: {}\n", "capcity"),
        ("capacity:\n  call: {timezone: Mars/Olympus}\n", "capacity.call.timezone"),
        ("capacity:\n  call: {hours: [18, 9]}\n", "capacity.call.hours"),
        ("capacity:\n  call: {weekdays: [7]}\n", "capacity.call.weekdays"),
        ("quiet_hours:\n  push: [21, 9]\n", "quiet_hours"),
        ("economics:\n  cost: {call: -2}\n", "economics.cost.call"),
        ("budget: lots\n", "budget"),
    ],
)
def test_a_bad_plan_is_one_line_naming_file_and_field(tmp_path: Path, text: str, named: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and named in message, message


def test_missing_and_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="not found"):
        load_plan(tmp_path / "nope.yaml")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(_write(tmp_path, "budget: [300\n"))
    with pytest.raises(PlanError, match="a plan is a mapping"):
        load_plan(_write(tmp_path, "- 300\n"))


def test_office_hours_are_the_centres_own_and_skip_the_weekend() -> None:
    """Friday 06:00 UTC over 72 hours; Moscow is UTC+3: 9-18 local = 06-15 UTC, Mon-Fri only."""
    plan = CampaignPlan.model_validate(
        {"capacity": {"call": {"per_hour": 5, "timezone": "Europe/Moscow", "hours": [9, 18],
                               "weekdays": [0, 1, 2, 3, 4]}, "sms": {"per_day": 100}}}
    )  # fmt: skip
    start = pd.Timestamp("2026-02-13T06:00Z")  # a Friday
    slots = slot_grid(np.array([start.value // 1000]), 72)[0]
    layout = plan_layout(plan, Economics(), slots)
    call = CHANNELS.index("call")
    utc_hours = pd.to_datetime(slots[layout.open_slot[call]], unit="us", utc=True)
    # Friday 06..14 UTC, then nothing on Saturday and Sunday, then Monday 06:00 UTC is slot 72: out
    assert len(utc_hours) == 9 and utc_hours.min() == start and utc_hours.max().hour == 14
    hours = [r for r in layout.resources if r.kind == "hour"]
    assert len(hours) == 9 and all(r.capacity == 5 for r in hours)
    assert hours[0].label == "call 2026-02-13 09:00 Europe/Moscow"
    days = [r.label for r in layout.resources if r.kind == "day"]
    assert days == ["sms 2026-02-13 UTC", "sms 2026-02-14 UTC", "sms 2026-02-15 UTC", "sms 2026-02-16 UTC"]
    # each call column is one office hour; e-mail, push and messenger keep one column each
    assert (layout.column_channel == call).sum() == 9
    assert (layout.column_channel == CHANNELS.index("sms")).sum() == 4
    assert layout.columns == 9 + 4 + 3


def test_a_saved_plan_reads_back_the_same_with_its_prices(tmp_path: Path) -> None:
    from optichannel.campaign_plan import save_plan

    plan = load_plan(_write(tmp_path, ISSUE_EXAMPLE)).model_copy(
        update={"prices": {"call": 0.4, "budget": 1.5}}
    )
    again = load_plan(save_plan(plan, tmp_path / "priced.yaml"))
    assert again == plan and again.name == "spring"


def test_an_arms_share_of_the_limits_rounds_down_alike() -> None:
    plan = CampaignPlan.model_validate({"budget": 300, "capacity": {"call": {"per_hour": 15, "total": 100}}})
    part = plan.scaled(0.4)
    assert part.budget == 120 and part.capacity["call"].per_hour == 6 and part.capacity["call"].total == 40
    assert plan.scaled(0.05).capacity["call"].per_hour == 0
