"""The demo trial's secondary outcomes (`ptr-trial seed-demo`): every derived value read through
/graphql equals a hand computation done here from the raw series read back through /graphql.

The computations below are written from DOMAIN.md ("Secondary outcomes") on purpose, without the
server's domain functions: CAR-T kinetics (Cmax, Tmax, AUC0-28 by the linear trapezoid on actual
days, Tlast, BLQ = 0 outside the quantifiable samples and missing between them), B-cell aplasia by
both rules, IgG status, HLA/HPA clearance (two consecutive negative samples) and the summed MFI."""

from __future__ import annotations

import calendar
import re
import statistics
from datetime import date, datetime, timezone
from typing import Any

import pytest

from server.demo import seed_demo_trial

RAW_ANALYTES = (
    "NEUTROPHILS LYMPHOCYTES WHITE_CELLS HEMOGLOBIN IGG CD19_PERCENT_LYMPHOCYTES CD3_PER_UL MARROW_CD138_PERCENT "
    "CAR_CD19_COPIES CAR_BCMA_COPIES CAR_CD19_PERCENT_CD3 CAR_BCMA_PERCENT_CD3"
)
KINETICS = "cmax tmax auc0To28 tlast series { day value blq }"
CLEARANCE = (
    "baselinePositive specificities { specificity clearedAt } clearedAt summedMfi { collectedAt summedMfi } "
    "summedMfiReductionPercent"
)
COHORT = f"""
query {{
  trial {{
    protocolParameters {{
      bCellAplasiaPercent bCellAplasiaPerUl bCellAplasiaRule iggLowBelowMgDl iggSevereAtOrBelowMgDl
    }}
    bCellAplasiaAt(month: 3) {{ subjectsAssessed subjectsMeeting }}
    medianCmax(product: CD19) {{ subjects median unit }}
    bcmaCmax: medianCmax(product: BCMA) {{ subjects median unit }}
    hlaClearedBy(month: 6) {{ subjectsAssessed subjectsMeeting }}
  }}
  subjects(first: 50) {{ edges {{ node {{
    code status
    infusions {{ product infusedAt }}
    plateletCounts {{ drawnAt }}
    labResults(analytes: [{", ".join(RAW_ANALYTES.split())}]) {{
      analyte collectedAt value unit valueReported unitReported lln lloq belowLimit
    }}
    antibodyTests {{
      collectedAt antibodyClass method kit lot cutoffMfi cutoffOperator results {{ specificity mfi positive }}
    }}
    bCells {{
      draws {{
        collectedOn cd19PercentOfLymphocytes lymphocytesPerUl cd19PerUl aplasiaByPercent aplasiaByAbsolute
        rulesDisagree aplastic
      }}
      aplasiaOn daysToAplasia recoveryOn daysToRecovery
    }}
    igg {{ collectedAt iggMgPerDl status }}
    marrowPlasmaCells {{ collectedAt value belowLimit lloq }}
    cd19: carTKinetics(product: CD19) {{ {KINETICS} }}
    bcma: carTKinetics(product: BCMA) {{ {KINETICS} }}
    cd19Flow: carTKinetics(product: CD19, measure: FLOW) {{ {KINETICS} }}
    bcmaFlow: carTKinetics(product: BCMA, measure: FLOW) {{ {KINETICS} }}
    hlaClearance {{ {CLEARANCE} }}
    hpaClearance {{ {CLEARANCE} }}
  }} }} }}
}}"""

HLA = {"HLA_CLASS_I", "HLA_CLASS_II"}


# --- hand computations (DOMAIN.md), independent of server.domain --------------------------------


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _add_months(moment: datetime, months: int) -> datetime:
    """Same day of the month `months` later, clamped to the month's last day."""
    year, month = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + year, month + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _infused(subject: dict[str, Any], product: str) -> datetime | None:
    times = [_t(i["infusedAt"]) for i in subject["infusions"] if i["product"] == product]
    return min(times) if times else None


def _results(subject: dict[str, Any], analyte: str) -> list[dict[str, Any]]:
    return [r for r in subject["labResults"] if r["analyte"] == analyte]


def hand_series(subject: dict[str, Any], product: str, measure: str) -> list[tuple[float, float | None]]:
    """(actual days from that product's infusion, value or None when BLQ), in time order. FLOW:
    CAR+ cells/uL = %CAR+ of CD3+ x CD3+/uL of the same draw."""
    day0 = _infused(subject, product)
    assert day0 is not None

    def days(at: str) -> float:
        return (_t(at) - day0).total_seconds() / 86400

    if measure == "QPCR":
        rows = _results(subject, f"CAR_{product}_COPIES")
        return sorted((days(r["collectedAt"]), None if r["belowLimit"] else r["value"]) for r in rows)
    cd3 = {_t(r["collectedAt"]): r["value"] for r in _results(subject, "CD3_PER_UL")}
    rows = [r for r in _results(subject, f"CAR_{product}_PERCENT_CD3") if _t(r["collectedAt"]) in cd3]
    return sorted((days(r["collectedAt"]), r["value"] * cd3[_t(r["collectedAt"])] / 100) for r in rows)


def hand_kinetics(series: list[tuple[float, float | None]]) -> dict[str, float | None]:
    """Cmax/Tmax over quantifiable samples from day 0; BLQ = 0 before the first and after the last
    quantifiable sample, skipped between; AUC0-28 by the linear trapezoid; Tlast = last quantifiable."""
    points = [p for p in series if p[0] >= 0]
    quantifiable = [(d, v) for d, v in points if v is not None]
    if not quantifiable:
        return {"cmax": None, "tmax": None, "auc0To28": 0.0 if points else None, "tlast": None}
    first, last = quantifiable[0][0], quantifiable[-1][0]
    curve = [(d, 0.0 if v is None else v) for d, v in points if v is not None or not first <= d <= last]
    cmax = max(v for _, v in quantifiable)
    window = [(d, v) for d, v in curve if d <= 28]
    auc = 0.0
    for (d1, v1), (d2, v2) in zip(window, window[1:], strict=False):
        auc += (d2 - d1) * (v1 + v2) / 2
    return {"cmax": cmax, "tmax": min(d for d, v in quantifiable if v == cmax), "auc0To28": auc, "tlast": last}


def hand_b_cells(subject: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Per draw date: absolute CD19+ = %CD19+ x lymphocytes/uL; aplasia by each rule (strictly
    below); onset = first aplastic draw from the CD19 infusion day, recovery = first non-aplastic after."""
    by_day: dict[date, dict[str, float]] = {}
    for r in _results(subject, "CD19_PERCENT_LYMPHOCYTES") + _results(subject, "LYMPHOCYTES"):
        by_day.setdefault(_t(r["collectedAt"]).date(), {})[r["analyte"]] = r["value"]
    draws = []
    for day in sorted(by_day):
        percent, lymphocytes = by_day[day].get("CD19_PERCENT_LYMPHOCYTES"), by_day[day].get("LYMPHOCYTES")
        if percent is None:
            continue
        absolute = percent * lymphocytes / 100 if lymphocytes is not None else None
        by_percent = percent < params["bCellAplasiaPercent"]
        by_absolute = None if absolute is None else absolute < params["bCellAplasiaPerUl"]
        draws.append(
            {
                "collectedOn": day.isoformat(),
                "cd19PercentOfLymphocytes": percent,
                "lymphocytesPerUl": lymphocytes,
                "cd19PerUl": absolute,
                "aplasiaByPercent": by_percent,
                "aplasiaByAbsolute": by_absolute,
                "rulesDisagree": by_absolute is not None and by_percent != by_absolute,
                "aplastic": by_percent if params["bCellAplasiaRule"] == "percent_of_lymphocytes" else by_absolute,
            }
        )
    cd19 = _infused(subject, "CD19")
    day0 = cd19.date() if cd19 else date.max
    after = [(date.fromisoformat(d["collectedOn"]), d["aplastic"]) for d in draws]
    after = [(day, aplastic) for day, aplastic in after if day >= day0]
    onset = next((day for day, aplastic in after if aplastic), None)
    recovery = next((day for day, aplastic in after if onset and day > onset and aplastic is False), None)
    return {
        "draws": draws,
        "aplasiaOn": onset.isoformat() if onset else None,
        "daysToAplasia": (onset - day0).days if onset else None,
        "recoveryOn": recovery.isoformat() if recovery else None,
        "daysToRecovery": (recovery - day0).days if recovery else None,
    }


def hand_igg_status(mg_per_dl: float, params: dict[str, Any]) -> str:
    if mg_per_dl <= params["iggSevereAtOrBelowMgDl"]:
        return "SEVERE"
    return "LOW" if mg_per_dl < params["iggLowBelowMgDl"] else "NORMAL"


def hand_clearance(subject: dict[str, Any], classes: set[str]) -> dict[str, Any] | None:
    """Samples = tests of these classes by collection time. Baseline = the last sample at or before
    the first CAR-T infusion. A baseline-positive specificity is cleared at the second of two
    consecutive negative samples; the subject when all are. Positive: MFI >= the lab's cut-off."""
    samples: dict[datetime, dict[str, tuple[bool, float | None]]] = {}
    for test in subject["antibodyTests"]:
        if test["antibodyClass"] not in classes:
            continue
        for r in test["results"]:
            positive = r["positive"] if r["mfi"] is None else r["mfi"] >= test["cutoffMfi"]
            assert positive == r["positive"], (subject["code"], r)
            samples.setdefault(_t(test["collectedAt"]), {})[r["specificity"]] = (positive, r["mfi"])
    if not samples:
        return None
    first = min((_t(i["infusedAt"]) for i in subject["infusions"]), default=None)
    times = sorted(samples)
    before = [t for t in times if first is None or t <= first]
    baseline = before[-1] if before else times[0]
    follow_up = [t for t in times if t > baseline]
    positives = sorted(s for s, (pos, _) in samples[baseline].items() if pos)
    cleared: dict[str, datetime | None] = {}
    for specificity in positives:
        negatives_in_a_row, cleared[specificity] = 0, None
        for t in follow_up:
            if specificity in samples[t]:
                negatives_in_a_row = 0 if samples[t][specificity][0] else negatives_in_a_row + 1
                if negatives_in_a_row == 2:
                    cleared[specificity] = t
                    break
    dates = [when for when in cleared.values() if when is not None]
    subject_cleared = max(dates) if positives and len(dates) == len(positives) else None
    summed = [
        (t, sum(samples[t][s][1] for s in positives if s in samples[t]))
        for t in [baseline, *follow_up]
        if any(s in samples[t] and samples[t][s][1] is not None for s in positives)
    ]
    reduction = (summed[0][1] - summed[-1][1]) / summed[0][1] * 100 if len(summed) > 1 and summed[0][1] else None
    return {
        "baselinePositive": positives,
        "cleared": cleared,
        "clearedAt": subject_cleared,
        "summedMfi": summed,
        "summedMfiReductionPercent": reduction,
    }


# --- helpers ------------------------------------------------------------------------------------


async def _seeded(app: Any, gql: Any, admin: str) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    report = await seed_demo_trial(app.state.sessionmaker)
    data = await gql.data(admin, COHORT)
    return report, data["trial"], {e["node"]["code"]: e["node"] for e in data["subjects"]["edges"]}


def _assert_kinetics(subject: dict[str, Any], key: str, product: str, measure: str) -> dict[str, float | None]:
    series = hand_series(subject, product, measure)
    expected = hand_kinetics(series)
    got = subject[key]
    # Days are actual elapsed days (the server shows them to 3 decimals); flow values are products.
    assert [(p["day"], p["value"], p["blq"]) for p in got["series"]] == [
        (pytest.approx(d, abs=5e-4), v if v is None else pytest.approx(v, rel=1e-12), v is None) for d, v in series
    ], (subject["code"], key)
    assert (got["cmax"], got["tmax"], got["tlast"]) == (
        pytest.approx(expected["cmax"], rel=1e-12),
        pytest.approx(expected["tmax"], abs=5e-4),
        pytest.approx(expected["tlast"], abs=5e-4),
    ), (subject["code"], key)
    assert got["auc0To28"] == pytest.approx(expected["auc0To28"], rel=1e-9), (subject["code"], key)
    return expected


def _assert_clearance(subject: dict[str, Any], key: str, classes: set[str]) -> dict[str, Any] | None:
    expected = hand_clearance(subject, classes)
    got = subject[key]
    if expected is None:
        assert got is None, subject["code"]
        return None
    assert got["baselinePositive"] == expected["baselinePositive"], subject["code"]
    assert {s["specificity"]: s["clearedAt"] and _t(s["clearedAt"]) for s in got["specificities"]} == expected[
        "cleared"
    ]
    assert (got["clearedAt"] and _t(got["clearedAt"])) == expected["clearedAt"], subject["code"]
    assert [(_t(s["collectedAt"]), s["summedMfi"]) for s in got["summedMfi"]] == expected["summedMfi"]
    if expected["summedMfiReductionPercent"] is None:
        assert got["summedMfiReductionPercent"] is None
    else:
        assert got["summedMfiReductionPercent"] == pytest.approx(expected["summedMfiReductionPercent"], rel=1e-9)
    return expected


def _b_cells_of(got: dict[str, Any]) -> dict[str, Any]:
    draws = [{**d, "cd19PerUl": d["cd19PerUl"] and pytest.approx(d["cd19PerUl"], rel=1e-9)} for d in got["draws"]]
    return {**got, "draws": draws}


# --- tests ---------------------------------------------------------------------------------------


async def test_demo_derived_outcomes_of_every_subject_match_a_hand_computation(app, gql, token):
    # given
    admin = token("admin")
    # when
    _report, trial, subjects = await _seeded(app, gql, admin)
    # then
    params = trial["protocolParameters"]
    for code, s in subjects.items():
        assert _b_cells_of(hand_b_cells(s, params)) == s["bCells"], code
        iggs = _results(s, "IGG")
        assert [(i["collectedAt"], i["iggMgPerDl"], i["status"]) for i in s["igg"]] == [
            (r["collectedAt"], r["value"], hand_igg_status(r["value"], params)) for r in iggs
        ], code
        assert [m["value"] for m in s["marrowPlasmaCells"]] == [r["value"] for r in _results(s, "MARROW_CD138_PERCENT")]
        for key, product, measure in (
            ("cd19", "CD19", "QPCR"),
            ("bcma", "BCMA", "QPCR"),
            ("cd19Flow", "CD19", "FLOW"),
            ("bcmaFlow", "BCMA", "FLOW"),
        ):
            if _infused(s, product) is None:
                assert s[key] is None, (code, key)
            else:
                _assert_kinetics(s, key, product, measure)
        _assert_clearance(s, "hlaClearance", HLA)
        _assert_clearance(s, "hpaClearance", {"HPA"})

    # S01-001 (responder): aplastic from day 7, B cells back by day 180 (CD19 CAR-T below the LLOQ
    # from day 60), IgG severe by then, HLA cleared at month 6, HPA-1a cleared at month 3.
    s = subjects["S01-001"]
    cd19 = _infused(s, "CD19")
    assert cd19 is not None
    b_cells = s["bCells"]
    assert (b_cells["daysToAplasia"], b_cells["daysToRecovery"]) == (7, 180)
    kinetics = _assert_kinetics(s, "cd19", "CD19", "QPCR")
    assert kinetics["tlast"] is not None and 27.5 < kinetics["tlast"] <= 28
    assert s["cd19"]["series"][0]["blq"] and s["cd19"]["series"][-1]["blq"]
    assert s["igg"][-1]["status"] == "SEVERE"
    hla = _assert_clearance(s, "hlaClearance", HLA)
    assert hla is not None and 3 <= len(hla["baselinePositive"]) <= 6
    assert hla["clearedAt"] == _add_months(cd19, 6).replace(hour=8, minute=15)
    assert hla["summedMfiReductionPercent"] > 90
    hpa = _assert_clearance(s, "hpaClearance", {"HPA"})
    assert hpa is not None and hpa["baselinePositive"] == ["HPA-1a"]
    assert hpa["clearedAt"] == _add_months(cd19, 3).replace(hour=8, minute=15)
    assert hpa["summedMfiReductionPercent"] is None  # MAIPA gives no MFI

    # S01-002 (non-responder): on day 14, 500 lymphocytes/uL at 3% CD19+ = 15/uL, aplastic by the
    # absolute rule only; aplastic by the percent rule (the default) from day 28. A BCMA sample
    # below the LLOQ between quantifiable ones is left out; one HLA specificity never clears.
    s = subjects["S01-002"]
    disagree = [d for d in s["bCells"]["draws"] if d["rulesDisagree"]]
    assert [(d["lymphocytesPerUl"], d["cd19PercentOfLymphocytes"], d["aplasiaByPercent"]) for d in disagree] == [
        (500.0, 3.0, False)
    ]
    assert disagree[0]["cd19PerUl"] == pytest.approx(15.0) and disagree[0]["aplasiaByAbsolute"] is True
    assert s["bCells"]["daysToAplasia"] == 28
    blq = [p["blq"] for p in s["bcma"]["series"]]
    assert True in blq[blq.index(False) : len(blq) - blq[::-1].index(False)], blq
    assert s["hlaClearance"]["clearedAt"] is None and s["hlaClearance"]["summedMfiReductionPercent"] < 90
    # Only one subject has draws where the two rules disagree.
    assert [c for c, x in subjects.items() if any(d["rulesDisagree"] for d in x["bCells"]["draws"])] == ["S01-002"]


async def test_demo_cohort_summaries_match_counts_and_medians_recomputed_over_all_subjects(app, gql, token):
    # given
    admin = token("admin")
    # when
    report, trial, subjects = await _seeded(app, gql, admin)
    # then
    params = trial["protocolParameters"]
    assessed = aplastic = 0
    for s in subjects.values():
        cd19 = _infused(s, "CD19")
        if cd19 is None:
            continue
        target = _add_months(cd19, 3).date()
        near = [
            d
            for d in hand_b_cells(s, params)["draws"]
            if abs((date.fromisoformat(d["collectedOn"]) - target).days) <= 30 and d["aplastic"] is not None
        ]
        if near:
            assessed += 1
            nearest = min(
                near, key=lambda d: (abs((date.fromisoformat(d["collectedOn"]) - target).days), d["collectedOn"])
            )
            aplastic += nearest["aplastic"]
    assert trial["bCellAplasiaAt"] == {"subjectsAssessed": assessed, "subjectsMeeting": aplastic}
    # By design: the withdrawn subject has no draw near month 3; S02-005's B cells are back by day 90.
    assert (assessed, aplastic) == (10, 9)

    for key, product, n in (("medianCmax", "CD19", 11), ("bcmaCmax", "BCMA", 10)):
        peaks = [
            hand_kinetics(hand_series(s, product, "QPCR"))["cmax"] for s in subjects.values() if _infused(s, product)
        ]
        peaks = [p for p in peaks if p is not None]
        assert trial[key] == {"subjects": n, "median": statistics.median(peaks), "unit": "copies/ug genomic DNA"}
        assert len(peaks) == n

    assessed = cleared = 0
    for s in subjects.values():
        first = min((_t(i["infusedAt"]) for i in s["infusions"]), default=None)
        clearance = hand_clearance(s, HLA)
        if first is None or clearance is None or not clearance["baselinePositive"]:
            continue
        assessed += 1
        cleared += clearance["clearedAt"] is not None and clearance["clearedAt"] <= _add_months(first, 6)
    assert trial["hlaClearedBy"] == {"subjectsAssessed": assessed, "subjectsMeeting": cleared}
    assert (assessed, cleared) == (11, 7)

    # The report counts what was written; units arrive as each site's lab reports them.
    lab_rows = [r for s in subjects.values() for r in s["labResults"]]
    tests = [t for s in subjects.values() for t in s["antibodyTests"]]
    assert f"  lab results: {len(lab_rows)} created" in report.splitlines()
    assert f"  antibody tests: {len(tests)} created" in report.splitlines()
    assert re.search(r"^  lab-sourced adverse events \(pending review\): \d+ created$", report, re.MULTILINE)
    factor = {"E9_PER_L": 1000.0, "PER_UL": 1.0, "G_PER_L": None, "G_PER_DL": 1.0, "MG_PER_DL": 1.0}
    for code, s in subjects.items():
        site_units = {"S01": {"E9_PER_L", "G_PER_L"}, "S02": {"PER_UL", "G_PER_DL", "MG_PER_DL"}}[code[:3]]
        for r in _results(s, "NEUTROPHILS") + _results(s, "HEMOGLOBIN") + _results(s, "IGG"):
            assert r["unitReported"] in site_units, (code, r)
            f = factor[r["unitReported"]] or {"HEMOGLOBIN": 0.1, "IGG": 100.0}[r["analyte"]]
            assert r["value"] == pytest.approx(r["valueReported"] * f, rel=1e-12), (code, r)
        assert {r["unit"] for r in _results(s, "NEUTROPHILS")} == {"PER_UL"}
        assert {r["unit"] for r in _results(s, "IGG")} == {"MG_PER_DL"}
    screen_failure = subjects["S01-005"]
    assert len({r["collectedAt"] for r in screen_failure["labResults"]}) == 1
    assert {r["analyte"] for r in screen_failure["labResults"]} == {
        "NEUTROPHILS",
        "LYMPHOCYTES",
        "WHITE_CELLS",
        "HEMOGLOBIN",
        "CD19_PERCENT_LYMPHOCYTES",
        "IGG",
    }
    assert (screen_failure["cd19"], screen_failure["bcma"]) == (None, None)
    # No platelet lab rows beside the transfusions' own counts.
    platelets = sum(len(s["plateletCounts"]) for s in subjects.values())
    assert f"  platelet counts: {platelets} created" in report.splitlines()
