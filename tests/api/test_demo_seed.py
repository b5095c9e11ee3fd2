"""`ptr-trial seed-demo`: the demo trial client teams develop against.

The response engine is not used here: `classify` below recomputes each transfusion's early and
late CCI from the stored records (DOMAIN.md rules) to prove that the seeded data has the intended
mix of responsive, non-responsive and not-evaluable transfusions."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from server.demo import seed_demo_trial

ROOT = Path(__file__).resolve().parents[2]

COHORT = """
query {
  sites { code name }
  subjects(first: 50) {
    totalCount
    edges { node {
      code status ageAtConsent diagnosis sex aboGroup consentDate firstInfusionAt
      statusHistory { toStatus effectiveDate }
      measurements { measuredAt heightCm weightKg }
      lymphodepletions { startDate endDate studyDay agents { agent dosePerDay doseUnit days } }
      infusions { product infusedAt carPositiveCellsPerKg totalCarPositiveCells lotNumber }
      transfusions { startedAt endedAt doseE11 aboCompatibility hlaSelected units { contentE11 contentBasis } }
      plateletCounts { drawnAt valueE9PerL }
    } }
  }
}"""

AUDIT = """
query($since: DateTime) {
  auditEvents(actorId: "seed-demo", since: $since, first: 100) { edges { node { actorId actorRole entity action } } }
}"""

INFUSED = {"FOLLOW_UP", "WITHDRAWN"}


# --- a tiny, independent recomputation of DOMAIN.md's transfusion response ----------------------


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass(frozen=True)
class Assessment:
    started_at: datetime
    abo: str
    category: str  # R, N or NE
    reason: str | None
    early_cci: float | None
    late_cci: float | None


def _earliest_in(counts: list[tuple[datetime, float]], lo: datetime, hi: datetime) -> tuple[datetime, float] | None:
    inside = [c for c in counts if lo <= c[0] <= hi]
    return min(inside) if inside else None


def _cci(post: float, pre: float, bsa: float, dose_e11: float) -> float:
    return (post - pre) * 1000 * bsa / dose_e11


def classify(subject: dict[str, Any]) -> list[Assessment]:
    """Each transfusion's R/N/NE: Mosteller BSA from the latest measurement on or before it; the
    pre-count is the last count at most 24 h before the start; early 10-60 min and late 18-24 h
    after the end (earliest count in the window); a post count drawn after the next transfusion
    started is not attributable; R when early > 7500 and late > 5000, N when any CCI fails."""
    counts = sorted((_t(c["drawnAt"]), c["valueE9PerL"]) for c in subject["plateletCounts"])
    measurements = sorted((_t(m["measuredAt"]), m["heightCm"], m["weightKg"]) for m in subject["measurements"])
    transfusions = sorted(subject["transfusions"], key=lambda x: x["startedAt"])
    result = []
    for i, tr in enumerate(transfusions):
        start, end = _t(tr["startedAt"]), _t(tr["endedAt"])
        next_start = _t(transfusions[i + 1]["startedAt"]) if i + 1 < len(transfusions) else None
        before = [m for m in measurements if m[0] <= start]
        bsa = math.sqrt(before[-1][1] * before[-1][2] / 3600) if before else None
        pres = [c for c in counts if start - timedelta(hours=24) <= c[0] <= start]
        pre = pres[-1][1] if pres else None
        early = _earliest_in(counts, end + timedelta(minutes=10), end + timedelta(minutes=60))
        late = _earliest_in(counts, end + timedelta(hours=18), end + timedelta(hours=24))
        confounded = [c for c in (early, late) if c and next_start and c[0] > next_start]
        early, late = (None if c in confounded else c for c in (early, late))
        reason = None
        if pre is None:
            reason = "no pre-count"
        elif bsa is None:
            reason = "no BSA"
        elif not tr["doseE11"]:
            reason = "no dose"
        early_cci = _cci(early[1], pre, bsa, tr["doseE11"]) if early and not reason else None
        late_cci = _cci(late[1], pre, bsa, tr["doseE11"]) if late and not reason else None
        failed = (early_cci is not None and early_cci <= 7500) or (late_cci is not None and late_cci <= 5000)
        if failed:
            category = "N"
        elif early_cci is not None and late_cci is not None:
            category = "R"
        else:
            category = "NE"
            reason = reason or (
                "confounded" if confounded else "no early sample" if early is None else "no late sample"
            )
        result.append(Assessment(start, tr["aboCompatibility"], category, reason, early_cci, late_cci))
    return result


def _sustained(assessments: list[Assessment]) -> bool:
    """>= 2 consecutive R, NE skipped."""
    run = 0
    for a in assessments:
        if a.category == "NE":
            continue
        run = run + 1 if a.category == "R" else 0
        if run >= 2:
            return True
    return False


# --- helpers ------------------------------------------------------------------------------------


async def _cohort(gql: Any, admin: str) -> dict[str, Any]:
    data = await gql.data(admin, COHORT)
    return {**data, "subjects": [e["node"] for e in data["subjects"]["edges"]]}


def _shape(cohort: dict[str, Any]) -> dict[str, Any]:
    """What a second seed must leave unchanged: every subject's records, field by field."""
    return {s["code"]: s for s in cohort["subjects"]} | {"sites": cohort["sites"]}


def _post_counts_of(subject: dict[str, Any], transfusion: dict[str, Any]) -> list[float]:
    end = _t(transfusion["endedAt"])
    return [c["valueE9PerL"] for c in subject["plateletCounts"] if end <= _t(c["drawnAt"]) <= end + timedelta(days=1)]


# --- tests ---------------------------------------------------------------------------------------


async def test_seed_demo_creates_two_sites_and_twelve_subjects_on_their_path(app, gql, token):
    # given
    admin = token("admin")
    # when
    report = await seed_demo_trial(app.state.sessionmaker)
    cohort = await _cohort(gql, admin)
    # then
    assert "sites: 2 created ['S01', 'S02'], 0 already present" in report
    assert "subjects: 12 created, 0 already present" in report
    assert [s["code"] for s in cohort["sites"]] == ["S01", "S02"]
    assert all(s["name"].endswith("(demo)") for s in cohort["sites"])
    subjects = cohort["subjects"]
    assert sorted(s["code"] for s in subjects) == [f"S0{site}-00{n}" for site in (1, 2) for n in range(1, 7)]
    assert Counter(s["status"] for s in subjects) == {"FOLLOW_UP": 10, "WITHDRAWN": 1, "SCREEN_FAILED": 1}
    assert {s["diagnosis"] for s in subjects} == {"AML", "ALL", "MPAL"}
    assert {s["sex"] for s in subjects} == {"FEMALE", "MALE"}
    assert len({s["aboGroup"] for s in subjects}) >= 3
    assert all(16 <= s["ageAtConsent"] <= 65 for s in subjects)
    for s in subjects:
        assert 2 <= len(s["measurements"]) <= 4, s["code"]
        assert all(150 <= m["heightCm"] <= 195 and 50 <= m["weightKg"] <= 110 for m in s["measurements"])
    infused = [s for s in subjects if s["status"] in INFUSED]
    assert len(infused) == 11
    for s in infused:
        products = [i["product"] for i in sorted(s["infusions"], key=lambda i: i["infusedAt"])]
        assert products == (["CD19"] if s["status"] == "WITHDRAWN" else ["CD19", "BCMA"]), s["code"]
        assert s["firstInfusionAt"] == min(i["infusedAt"] for i in s["infusions"])
        assert all(5e5 <= i["carPositiveCellsPerKg"] <= 2e6 and i["lotNumber"] for i in s["infusions"])
        (course,) = s["lymphodepletions"]
        assert (course["studyDay"], [a["agent"] for a in course["agents"]]) == (-5, ["FLUDARABINE", "CYCLOPHOSPHAMIDE"])
        path = [h["toStatus"] for h in s["statusHistory"]]
        assert path[:4] == ["SCREENING", "ENROLLED", "LYMPHODEPLETED", "INFUSED"], s["code"]
        assert 15 <= len(s["transfusions"]) <= 25, (s["code"], len(s["transfusions"]))
        assert all(_post_counts_of(s, tr) for tr in s["transfusions"]), s["code"]
    (screen_failure,) = [s for s in subjects if s["status"] == "SCREEN_FAILED"]
    assert (screen_failure["infusions"], screen_failure["firstInfusionAt"]) == ([], None)
    assert len(screen_failure["transfusions"]) == 3
    transfusions = [t for s in subjects for t in s["transfusions"]]
    assert sum(t["aboCompatibility"] == "IDENTICAL" for t in transfusions) / len(transfusions) > 0.75
    assert any(t["hlaSelected"] for t in transfusions)
    assert {u["contentBasis"] for t in transfusions for u in t["units"]} == {"MEASURED", "NOMINAL"}
    assert any(len(t["units"]) == 2 for t in transfusions)
    assert all(t["doseE11"] is None or 2.9 <= t["doseE11"] <= 8.8 for t in transfusions)


async def test_seed_demo_twice_creates_nothing_new_and_audits_the_first_run_as_seed_demo(app, gql, token):
    # given
    admin = token("admin")
    await seed_demo_trial(app.state.sessionmaker)
    before = _shape(await _cohort(gql, admin))
    between = datetime.now(timezone.utc)
    # when
    report = await seed_demo_trial(app.state.sessionmaker)
    # then
    assert report == "seed-demo: nothing new created; already present: 2 sites, 12 subjects"
    assert _shape(await _cohort(gql, admin)) == before
    second_run = await gql.data(admin, AUDIT, {"since": between.isoformat()})
    assert second_run["auditEvents"]["edges"] == []
    first_run = [e["node"] for e in (await gql.data(admin, AUDIT, {"since": None}))["auditEvents"]["edges"]]
    assert len(first_run) == 100
    assert {(e["actorId"], e["actorRole"]) for e in first_run} == {("seed-demo", "ADMIN")}
    assert (first_run[0]["entity"], first_run[0]["action"]) == ("Site", "CREATE")
    assert {"Subject", "BodyMeasurement", "PlateletTransfusion", "PlateletCount"} <= {e["entity"] for e in first_run}


async def test_seed_demo_transfusions_mix_responsive_non_responsive_and_not_evaluable(app, gql, token):
    # given
    admin = token("admin")
    # when
    await seed_demo_trial(app.state.sessionmaker)
    subjects = (await _cohort(gql, admin))["subjects"]
    # then
    everything = [a for s in subjects for a in classify(s)]
    categories = Counter(a.category for a in everything)
    assert categories["R"] / len(everything) >= 0.2 and categories["N"] / len(everything) >= 0.2, categories
    assert categories["NE"] >= 10, categories
    reasons = {a.reason for a in everything if a.category == "NE"}
    assert reasons == {"no pre-count", "no dose", "no early sample", "no late sample", "confounded"}
    by_subject = {s["code"]: (classify(s), _t(s["firstInfusionAt"])) for s in subjects if s["status"] in INFUSED}
    after_day0 = sum(
        a.started_at > day0 for assessed, day0 in by_subject.values() for a in assessed if a.category == "R"
    )
    assert after_day0 / categories["R"] >= 0.9
    for code, (assessed, day0) in by_subject.items():
        baseline = [a for a in assessed if a.started_at < day0 and a.category != "NE"]
        # Refractory: the first two are ABO-identical with an early CCI below 7500; no response before CAR-T.
        assert [(a.abo, a.early_cci < 7500) for a in baseline[:2]] == [("IDENTICAL", True)] * 2, code
        assert not _sustained(baseline), code
    after = {code: [a for a in assessed if a.started_at > day0] for code, (assessed, day0) in by_subject.items()}
    sustained = {code for code, assessed in after.items() if _sustained(assessed)}
    assert sustained == {"S01-001", "S01-003", "S01-004", "S01-006", "S02-001", "S02-002", "S02-004", "S02-006"}
    lost = {code for code in sustained if [a.category for a in after[code] if a.category != "NE"][-2:] == ["N", "N"]}
    assert lost == {"S01-004", "S02-006"}


def test_cli_seed_demo_twice_on_the_embedded_database(tmp_path):
    # given
    env = {**os.environ, "PTR_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)

    def seed() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server.cli", "seed-demo"], cwd=ROOT, env=env, capture_output=True, text=True
        )

    # when
    first, second = seed(), seed()
    # then
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert "subjects: 12 created, 0 already present" in first.stdout
    assert "seed-demo: nothing new created; already present: 2 sites, 12 subjects" in second.stdout
    assert (tmp_path / "ptr-trial.sqlite3").exists()


SAFETY = """
{
  adverseEvents(first: 100) { totalCount edges { node { term source status gradingScale subjectCode } } }
  alerts { edges { node { siteCode subjectCode redFlags } } }
}"""


def _days_ago(n: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=n)).date().isoformat()


async def test_seed_demo_has_diary_reports_adverse_events_and_alerts(app, gql, token):
    # given
    await seed_demo_trial(app.state.write_sessionmaker)
    # when
    data = await gql.data(token("admin"), SAFETY)
    patient = await gql.data(
        token("patient", subject="S01-001"), "{ myBleedingReports { edges { node { provisionalWhoGrade kind } } } }"
    )
    # then
    events = [e["node"] for e in data["adverseEvents"]["edges"]]
    assert {e["source"] for e in events} == {"PATIENT_REPORT", "INVESTIGATOR", "LAB"}
    # The cytopenias after lymphodepletion propose lab-sourced events, pending an investigator's review.
    lab = [e for e in events if e["source"] == "LAB"]
    assert {e["status"] for e in lab} == {"PENDING_REVIEW"}
    assert {e["term"] for e in lab} <= {
        "Neutrophil count decreased",
        "Lymphocyte count decreased",
        "White blood cell decreased",
        "Anemia",
    }
    crs = [e for e in events if e["term"] == "Cytokine release syndrome"]
    assert len(crs) == 3 and {e["gradingScale"] for e in crs} == {"ASTCT_2019"}
    # S01-001's nosebleeds on consecutive days are one Epistaxis episode.
    epistaxis = [e for e in events if e["term"] == "Epistaxis" and e["subjectCode"] == "S01-001"]
    assert len(epistaxis) == 1
    # Check-ins have no grade; the two 20-minute nosebleeds of one day are grade 1 each, grade 2 together.
    reports = [r["node"] for r in patient["myBleedingReports"]["edges"]]
    assert [r["provisionalWhoGrade"] for r in reports] == [1, None, None, 1, 1, None, 1, 2]
    assert [r["kind"] for r in reports].count("NO_BLEEDING") == 3
    days = await gql.data(
        token("coordinator", "S01"),
        'query($from: Date!, $to: Date!) { subject(code: "S01-001") { bleedingDays(from: $from, to: $to) '
        "{ dayWhoGrade reportCount } } }",
        {"from": _days_ago(10), "to": _days_ago(0)},
    )
    assert [(d["dayWhoGrade"], d["reportCount"]) for d in days["subject"]["bleedingDays"]] == [
        (1, 1),
        (None, 1),
        (None, 1),
        (2, 2),
        (None, 1),
        (1, 1),
        (2, 1),
    ]
    sites = await gql.data(token("admin"), "{ sites { code phone } }")
    assert all(site["phone"] for site in sites["sites"])
    alerts = [a["node"] for a in data["alerts"]["edges"]]
    assert {(a["siteCode"], a["subjectCode"]) for a in alerts} >= {("S02", "S02-001"), ("S01", "S01-001")}
    assert ["BLACK_STOOL"] in [a["redFlags"] for a in alerts]


THERAPY_STORIES = """query($code: String!) {
  subject(code: $code) {
    therapies { class name timing studyDay }
    procedures { type hsctType studyDay }
    transfusions { studyDay response { category countedForEndpoint excludedReason confoundedByTherapy { class } } }
    plateletResponse { sustained followUpEndsOn confoundedTransfusions sensitivity { sustained excludedTransfusions } }
  }
}"""


async def test_seed_demo_shows_therapy_confounding_a_transplant_and_a_deviation(app, gql, token):
    # given
    admin = token("admin")
    # when
    report = await seed_demo_trial(app.state.sessionmaker)

    async def story(code: str) -> dict[str, Any]:
        return (await gql.data(admin, THERAPY_STORIES, {"code": code}))["subject"]

    # then: 7 therapies (3 prior IVIG, an IVIG dose, eltrombopag, rituximab, tocilizumab), 2 procedures
    assert "therapies: 7 created" in report and "procedures: 2 created" in report
    for code in ("S01-001", "S02-002", "S01-003"):
        assert ("IVIG", "PRIOR") in {(t["class"], t["timing"]) for t in (await story(code))["therapies"]}, code
    # IVIG during follow-up flags the responsive transfusion 6 days later
    s01_003 = await story("S01-003")
    flagged = [t for t in s01_003["transfusions"] if t["response"]["confoundedByTherapy"]]
    assert {t["response"]["confoundedByTherapy"]["class"] for t in flagged} == {"IVIG"}
    assert flagged[-1]["response"]["category"] == "RESPONSIVE"  # the one 6 days after the dose
    dose_day = next(t["studyDay"] for t in s01_003["therapies"] if t["timing"] == "CONCOMITANT")
    assert all(0 <= t["studyDay"] - dose_day <= 14 for t in flagged)
    assert s01_003["plateletResponse"]["sensitivity"]["excludedTransfusions"] == len(flagged)
    # eltrombopag from day 45 to day 110 flags the follow-up transfusions in its span
    s02_004 = await story("S02-004")
    tpo = [t for t in s02_004["transfusions"] if t["response"]["confoundedByTherapy"]]
    assert tpo and all(45 <= t["studyDay"] <= 110 for t in tpo)
    assert {t["response"]["confoundedByTherapy"]["class"] for t in tpo} == {"TPO_RA"}
    assert s02_004["plateletResponse"]["confoundedTransfusions"] == len(tpo)
    # an allogeneic HSCT at month 8: the two later transfusions are listed, not counted
    s01_001 = await story("S01-001")
    assert [(p["type"], p["hsctType"]) for p in s01_001["procedures"]] == [
        ("SPLENECTOMY", None),
        ("HSCT", "ALLOGENEIC"),
    ]
    hsct_day = s01_001["procedures"][1]["studyDay"]
    assert 240 <= hsct_day <= 245
    after = [t for t in s01_001["transfusions"] if t["studyDay"] >= hsct_day]
    assert [(t["response"]["countedForEndpoint"], t["response"]["excludedReason"]) for t in after] == [
        (False, "AFTER_HSCT")
    ] * 2
    assert s01_001["plateletResponse"]["followUpEndsOn"] is not None
    assert s01_001["plateletResponse"]["sustained"] is True  # reached before the transplant
    # rituximab after CAR-T: a protocol deviation at S02
    deviations = (
        await gql.data(
            token("monitor", "S02"),
            "{ protocolDeviations { site { code } deviations { subjectCode studyDay therapy { name } } } }",
        )
    )["protocolDeviations"]
    assert deviations == [
        {
            "site": {"code": "S02"},
            "deviations": [{"subjectCode": "S02-005", "studyDay": 100, "therapy": {"name": "rituximab"}}],
        }
    ]
