"""The demo trial's before/after comparisons and times to event (`ptr-trial seed-demo`), checked
against independent computations: the per-subject values and times are recomputed here from the
raw records read back through /graphql (DOMAIN.md's periods and definitions, written out again,
without the server's domain functions), then the statistics against scipy.stats.wilcoxon (and a
brute-force enumeration of the sign flips when there are ties or zeros) and lifelines'
KaplanMeierFitter."""

from __future__ import annotations

import itertools
import statistics
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from server.demo import seed_demo_trial

scipy_stats = pytest.importorskip("scipy.stats")
lifelines = pytest.importorskip("lifelines")
lifelines_utils = pytest.importorskip("lifelines.utils")

MONTH = 30.4375
RAW = """
query {
  subjects(first: 50) { edges { node {
    code
    infusions { product infusedAt }
    transfusions { startedAt endedAt units { contentE11 } cciEarly cciLate response { category } }
    plateletCounts { drawnAt }
    measurements { measuredAt }
    labResults(analytes: [CD19_PERCENT_LYMPHOCYTES]) { collectedAt }
    allLabs: labResults { collectedAt }
    antibodyTests { collectedAt }
    bleedingReports { noticedAt localDate }
    plateletResponse { sustained firstResponseAt lostResponseAt followUpEndsOn }
    bCells { daysToAplasia draws { collectedOn aplastic } }
    hlaClearance { baselinePositive clearedAt }
  } } }
}"""
COMPARISON = """
query($measure: BeforeAfterMeasure!) {
  trial { beforeAfterComparison(measure: $measure) {
    subjects pairs medianBaseline medianFollowUp medianDifference hodgesLehmann wilcoxonStatistic pValue
    differencesRanked zeroDifferencesDropped hasTies values { subjectCode baseline followUp difference }
  } }
}"""
TIME_TO_EVENT = """
query($event: TimeToEventKind!) {
  trial { timeToEvent(event: $event) {
    subjects events censored medianMonths medianCiLowerMonths medianCiUpperMonths
    atRisk { month subjects } curve { timeMonths survival ciLower ciUpper atRisk }
    subjectTimes { subjectCode months event }
  } }
}"""
DIARY = "query($code: String!, $from: Date!, $to: Date!) { subject(code: $code) { bleedingDays(from: $from, to: $to) { localDate dayWhoGrade } } }"


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.fixture
async def demo(app: Any, gql: Any, token: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    analyst = token("analyst")
    await seed_demo_trial(app.state.sessionmaker)
    data = await gql.data(analyst, RAW)
    return analyst, {e["node"]["code"]: e["node"] for e in data["subjects"]["edges"]}


# --- independent per-subject values (DOMAIN.md) ----------------------------------------------------------


def last_follow_up(s: dict[str, Any]) -> datetime:
    """The latest dated record, as documented: infusions, transfusion ends, counts, labs, antibody
    tests, measurements, diary reports."""
    times = (
        [i["infusedAt"] for i in s["infusions"]]
        + [t["endedAt"] for t in s["transfusions"]]
        + [c["drawnAt"] for c in s["plateletCounts"]]
        + [r["collectedAt"] for r in s["allLabs"]]
        + [a["collectedAt"] for a in s["antibodyTests"]]
        + [m["measuredAt"] for m in s["measurements"]]
        + [r["noticedAt"] for r in s["bleedingReports"]]
    )
    return max(_t(x) for x in times)


def periods(s: dict[str, Any]) -> dict[str, tuple[date, date]]:
    """Baseline days -30..-1 and follow-up days 29..365 from the first infusion's UTC date, cut at
    the last follow-up's UTC date."""
    day0 = min(_t(i["infusedAt"]) for i in s["infusions"]).date()
    last = last_follow_up(s).date()
    return {
        "baseline": (day0 - timedelta(days=30), min(day0 - timedelta(days=1), last)),
        "follow_up": (day0 + timedelta(days=29), min(day0 + timedelta(days=365), last)),
    }


def hand_value(measure: str, s: dict[str, Any], first: date, last: date) -> float | None:
    days = (last - first).days + 1
    inside = [t for t in s["transfusions"] if first <= _t(t["startedAt"]).date() <= last]
    evaluable = [t for t in inside if t["response"]["category"] != "NOT_EVALUABLE"]
    if measure == "TRANSFUSIONS_PER_30_DAYS":
        return len(inside) * 30 / days if days > 0 else None
    if measure == "UNITS_PER_30_DAYS":
        return sum(len(t["units"]) for t in inside) * 30 / days if days > 0 else None
    if measure == "SHARE_RESPONSIVE":
        return sum(t["response"]["category"] == "RESPONSIVE" for t in evaluable) / len(evaluable) if evaluable else None
    key = "cciEarly" if measure == "MEDIAN_CCI_EARLY" else "cciLate"
    values = [t[key] for t in evaluable if t[key] is not None]
    return statistics.median(values) if values else None


def exact_sign_flip_p(differences: list[float]) -> float:
    """Two-sided exact p over all 2^n sign assignments of the average ranks (zeros dropped)."""
    used = [d for d in differences if d != 0]
    magnitudes = sorted(abs(d) for d in used)
    rank = {m: statistics.mean(i + 1 for i, x in enumerate(magnitudes) if x == m) for m in magnitudes}
    ranks = [rank[abs(d)] for d in used]
    observed = sum(r for r, d in zip(ranks, used, strict=True) if d > 0)
    sums = [
        sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in itertools.product((0, 1), repeat=len(ranks))
    ]
    low = sum(1 for x in sums if x <= observed + 1e-9) / len(sums)
    high = sum(1 for x in sums if x >= observed - 1e-9) / len(sums)
    return min(1.0, 2 * min(low, high))


def walsh_median(differences: list[float]) -> float:
    n = len(differences)
    return statistics.median((differences[i] + differences[j]) / 2 for i in range(n) for j in range(i, n))


MEASURES = ["MEDIAN_CCI_EARLY", "MEDIAN_CCI_LATE", "SHARE_RESPONSIVE", "TRANSFUSIONS_PER_30_DAYS", "UNITS_PER_30_DAYS"]


async def test_demo_comparisons_match_scipy(gql: Any, demo: Any) -> None:
    # given: the demo seeded once for every measure (seeding is the slow part)
    analyst, subjects = demo
    for measure in MEASURES:
        await check_comparison(gql, analyst, subjects, measure)
    await check_bleeding(gql, analyst, subjects)


async def check_comparison(gql: Any, analyst: str, subjects: dict[str, Any], measure: str) -> None:
    # when
    result = (await gql.data(analyst, COMPARISON, {"measure": measure}))["trial"]["beforeAfterComparison"]
    # then: each subject's values recomputed from its records
    infused = {code: s for code, s in subjects.items() if s["infusions"]}
    assert result["subjects"] == len(infused)
    for value in result["values"]:
        bounds = periods(infused[value["subjectCode"]])
        for period, key in (("baseline", "baseline"), ("follow_up", "followUp")):
            expected = hand_value(measure, infused[value["subjectCode"]], *bounds[period])
            assert value[key] == (None if expected is None else pytest.approx(expected, abs=1e-6)), (value, period)
    pairs = [(v["baseline"], v["followUp"]) for v in result["values"] if v["difference"] is not None]
    differences = [round(f - b, 6) for b, f in pairs]
    assert result["pairs"] == len(pairs) >= 5
    assert result["medianBaseline"] == pytest.approx(statistics.median(b for b, _ in pairs))
    assert result["medianFollowUp"] == pytest.approx(statistics.median(f for _, f in pairs))
    assert result["medianDifference"] == pytest.approx(statistics.median(differences))
    assert result["hodgesLehmann"] == pytest.approx(walsh_median(differences))
    # the test: scipy where its exact distribution applies (no ties, no zeros); brute force always
    nonzero = [d for d in differences if d != 0]
    assert result["zeroDifferencesDropped"] == len(differences) - len(nonzero)
    assert result["pValue"] == pytest.approx(exact_sign_flip_p(differences))
    reference = scipy_stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided", method="approx")
    assert result["wilcoxonStatistic"] == pytest.approx(reference.statistic)
    if not result["hasTies"] and not result["zeroDifferencesDropped"]:
        exact = scipy_stats.wilcoxon(differences, alternative="two-sided", method="exact")
        assert result["pValue"] == pytest.approx(exact.pvalue)


async def check_bleeding(gql: Any, analyst: str, subjects: dict[str, Any]) -> None:
    # when
    result = (await gql.data(analyst, COMPARISON, {"measure": "BLEEDING_GRADE2_PROPORTION"}))["trial"][
        "beforeAfterComparison"
    ]
    # then: the proportion of observed diary days with grade >= 2, from Subject.bleedingDays
    for value in result["values"]:
        bounds = periods(subjects[value["subjectCode"]])
        for period, key in (("baseline", "baseline"), ("follow_up", "followUp")):
            first, last = bounds[period]
            days = []
            if last >= first:
                variables = {"code": value["subjectCode"], "from": first.isoformat(), "to": last.isoformat()}
                days = (await gql.data(analyst, DIARY, variables))["subject"]["bleedingDays"]
            grade2 = sum(1 for d in days if (d["dayWhoGrade"] or 0) >= 2)
            assert value[key] == (pytest.approx(grade2 / len(days)) if days else None)


# --- times to event ----------------------------------------------------------------------------------------


def months(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400 / MONTH


def hand_time(kind: str, s: dict[str, Any]) -> tuple[float, bool] | None:
    """(months, event) by the definitions the API states; censored at the earlier of the last
    follow-up, an allogeneic HSCT (followUpEndsOn) and month 12 after the first infusion."""
    first = min(_t(i["infusedAt"]) for i in s["infusions"])
    horizon = first + timedelta(days=12 * MONTH)
    response = s["plateletResponse"]
    if response["followUpEndsOn"]:
        hsct = datetime.fromisoformat(response["followUpEndsOn"]).replace(tzinfo=timezone.utc)
        horizon = min(horizon, hsct)
    if kind == "FIRST_RESPONSE":
        start, event = first, response["firstResponseAt"] and _t(response["firstResponseAt"])
    elif kind == "LOSS_OF_RESPONSE":
        if not response["sustained"]:
            return None
        start, event = _t(response["firstResponseAt"]), response["lostResponseAt"] and _t(response["lostResponseAt"])
    elif kind == "B_CELL_APLASIA":
        cd19 = [_t(i["infusedAt"]) for i in s["infusions"] if i["product"] == "CD19"]
        draws = [d for d in s["bCells"]["draws"] if d["aplastic"] is not None]
        if not cd19 or not any(date.fromisoformat(d["collectedOn"]) >= cd19[0].date() for d in draws):
            return None
        start = min(cd19)
        days = s["bCells"]["daysToAplasia"]
        event = start + timedelta(days=days) if days is not None else None
    else:
        clearance = s["hlaClearance"]
        if clearance is None or not clearance["baselinePositive"]:
            return None
        start, event = first, clearance["clearedAt"] and _t(clearance["clearedAt"])
    horizon = max(horizon, start)
    if event and event <= horizon:
        return months(start, event), True
    return months(start, min(max(last_follow_up(s), start), horizon)), False


async def test_demo_times_to_event_match_lifelines(gql: Any, demo: Any) -> None:
    # given: the demo seeded once for the four kinds
    analyst, subjects = demo
    for kind in ("FIRST_RESPONSE", "LOSS_OF_RESPONSE", "B_CELL_APLASIA", "HLA_CLEARANCE"):
        await check_time_to_event(gql, analyst, subjects, kind)


async def check_time_to_event(gql: Any, analyst: str, subjects: dict[str, Any], kind: str) -> None:
    # when
    result = (await gql.data(analyst, TIME_TO_EVENT, {"event": kind}))["trial"]["timeToEvent"]
    # then: every subject's time recomputed from its records
    expected = {code: hand_time(kind, s) for code, s in subjects.items() if s["infusions"]}
    expected = {code: t for code, t in expected.items() if t is not None}
    got = {t["subjectCode"]: (t["months"], t["event"]) for t in result["subjectTimes"]}
    assert got.keys() == expected.keys() and len(got) >= 5
    for code, (t, event) in expected.items():
        assert got[code] == (pytest.approx(t, abs=1e-9), event), code
    assert (result["subjects"], result["events"]) == (len(got), sum(e for _, e in got.values()))
    # the estimate, its median and the median's CI as lifelines computes them
    durations = [t for t, _ in got.values()]
    observed = [e for _, e in got.values()]
    kmf = lifelines.KaplanMeierFitter().fit(durations, observed, alpha=0.05)
    for step in result["curve"]:
        assert step["survival"] == pytest.approx(float(kmf.survival_function_at_times(step["timeMonths"]).iloc[0]))
        lower, upper = kmf.confidence_interval_survival_function_.loc[step["timeMonths"]]
        assert (step["ciLower"], step["ciUpper"]) == (pytest.approx(lower), pytest.approx(upper))
    median = kmf.median_survival_time_
    assert result["medianMonths"] == (None if median == float("inf") else pytest.approx(median))
    ci = lifelines_utils.median_survival_times(kmf.confidence_interval_)
    for key, column in (("medianCiLowerMonths", 0), ("medianCiUpperMonths", 1)):
        bound = float(ci.iloc[0, column])
        assert result[key] == (None if bound == float("inf") else pytest.approx(bound)), key
    # numbers at risk: subjects with time >= month
    for row in result["atRisk"]:
        assert row["subjects"] == sum(1 for t in durations if t >= row["month"])
