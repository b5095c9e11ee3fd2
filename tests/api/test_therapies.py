"""Therapies and procedures through the API (DOMAIN.md "Prior and concomitant therapies,
transplant"): IVIG and TPO-RA flag transfusions "confounded by therapy" and the sensitivity
endpoint leaves them out; an allogeneic HSCT stops the sustained-response window; voiding each
restores the previous results, stored and live; timeline, cohort filters, deviations, audit,
free text, and a statement count that does not grow with the cohort."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert

from server.db import models as m
from server.domain.therapies import DoseFrequency, TherapyClass, TherapyDoseUnit, TherapyRoute

from .fixtures_data import create_site, mutate, record_procedure, record_therapy
from .stored_responses import assert_stored_equals_live, refresh_all
from .test_platelet_response import CD19_AT, DAY_1, new_subject, refractory, responsive

RESPONSE = """query($code: String!) {
  subject(code: $code) {
    transfusions {
      id startedAt
      response { category countedForEndpoint excludedReason confoundedByTherapy { therapyId class rule } }
    }
    plateletResponse {
      sustained evaluableTransfusions responsiveTransfusions followUpEndsOn confoundedTransfusions rule
      sensitivity { label sustained firstResponseAt evaluableTransfusions responsiveTransfusions excludedTransfusions rule }
    }
  }
  trial {
    main: primaryEndpoint(population: INFUSED) { subjects responders sensitivity rule }
    sensitivity: primaryEndpoint(population: INFUSED, sensitivity: true) { subjects responders sensitivity rule }
    bySite: primaryEndpointBySite(population: INFUSED, sensitivity: true) { site { code } endpoint { responders } }
  }
}"""


@pytest.fixture
async def site_s01(gql: Any, token: Any) -> str:
    return await create_site(gql, token("admin"), "S01")


async def read(gql: Any, auth: str, code: str = "S01-001") -> dict[str, Any]:
    return await gql.data(auth, RESPONSE, {"code": code})


async def succeed(gql: Any, auth: str, name: str, input_type: str, values: dict[str, Any]) -> Any:
    result = await mutate(gql, auth, name, input_type, values, "")
    assert "code" not in result, result
    return result


async def void(gql: Any, auth: str, record_id: str) -> None:
    await succeed(gql, auth, "voidRecord", "VoidRecordInput", {"id": record_id, "reason": "entered in error"})


def day(moment: datetime, days: int) -> str:
    return (moment + timedelta(days=days)).date().isoformat()


async def test_a_responsive_transfusion_10_days_after_ivig_is_flagged_and_left_out_of_the_sensitivity_endpoint(
    app, gql, token, site_s01
):
    # given: two responsive transfusions after CD19 (a sustained responder)
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    first, _ = await responsive(gql, coordinator, "S01-001", DAY_1)
    second, _ = await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=20))
    before = await read(gql, coordinator)
    assert before["subject"]["plateletResponse"]["sustained"] is True
    # when: IVIG given 10 days before the second transfusion
    ivig = await record_therapy(
        gql, coordinator, "S01-001", startDate=day(DAY_1, 10), endDate=day(DAY_1, 10), indication="bleeding"
    )
    # then: the second is flagged (still R), the first is not; the main analysis is unchanged
    data = await read(gql, coordinator)
    by_id = {t["id"]: t["response"] for t in data["subject"]["transfusions"]}
    assert by_id[first]["confoundedByTherapy"] is None
    assert by_id[second]["category"] == "RESPONSIVE"
    flag = by_id[second]["confoundedByTherapy"]
    assert (flag["therapyId"], flag["class"]) == (ivig, "IVIG")
    assert flag["rule"].startswith("ivig-confounding-v1")
    response = data["subject"]["plateletResponse"]
    assert (response["sustained"], response["confoundedTransfusions"]) == (True, 1)
    # ... and the sensitivity analysis, labelled as such, leaves it out: no longer sustained
    sensitivity = response["sensitivity"]
    assert sensitivity["label"].startswith("sensitivity analysis")
    assert (sensitivity["sustained"], sensitivity["evaluableTransfusions"], sensitivity["excludedTransfusions"]) == (
        False,
        1,
        1,
    )
    assert sensitivity["rule"].startswith("sensitivity-v1")
    trial = data["trial"]
    assert (trial["main"]["responders"], trial["main"]["sensitivity"]) == (1, False)
    assert (trial["sensitivity"]["subjects"], trial["sensitivity"]["responders"]) == (1, 0)
    assert trial["sensitivity"]["sensitivity"] is True and trial["sensitivity"]["rule"].startswith("sensitivity-v1")
    assert trial["bySite"] == [{"site": {"code": "S01"}, "endpoint": {"responders": 0}}]
    assert await assert_stored_equals_live(app) == 1
    # when: the IVIG is voided
    await void(gql, coordinator, ivig)
    # then: the previous results, stored and live
    assert await read(gql, coordinator) == before
    assert await assert_stored_equals_live(app) == 1


async def test_an_ongoing_tpo_ra_flags_the_transfusions_in_its_span(app, gql, token, site_s01):
    # given: four responsive transfusions, 7 days apart
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    ids = [(await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=7 * k)))[0] for k in range(4)]
    before = await read(gql, coordinator)

    def flagged(data: dict[str, Any]) -> list[bool]:
        by_id = {t["id"]: t["response"]["confoundedByTherapy"] for t in data["subject"]["transfusions"]}
        return [by_id[i] is not None for i in ids]

    # when: eltrombopag from day 10 (after the second transfusion), ongoing
    tpo = await record_therapy(
        gql,
        coordinator,
        "S01-001",
        **{"class": "TPO_RA", "name": "eltrombopag", "dose": 50.0, "doseUnit": "MG", "route": "ORAL"},
        frequency="QD",
        startDate=day(DAY_1, 10),
        endDate=None,
        ongoing=True,
    )
    # then: the transfusions on and after its start carry the flag, naming it
    data = await read(gql, coordinator)
    assert flagged(data) == [False, False, True, True]
    tpo_flag = next(t for t in data["subject"]["transfusions"] if t["id"] == ids[3])["response"]["confoundedByTherapy"]
    assert (tpo_flag["therapyId"], tpo_flag["class"]) == (tpo, "TPO_RA")
    assert data["subject"]["plateletResponse"]["sensitivity"]["sustained"] is True  # days 0 and 7 remain
    assert await assert_stored_equals_live(app) == 1
    # when: amended to have ended on day 15: the transfusion on day 21 is no longer in its span
    await succeed(
        gql,
        coordinator,
        "amendTherapy",
        "AmendTherapyInput",
        {"id": tpo, "reason": "stopped", "ongoing": False, "endDate": day(DAY_1, 15)},
    )
    assert flagged(await read(gql, coordinator)) == [False, False, True, False]
    assert await assert_stored_equals_live(app) == 1
    # when: voided
    await void(gql, coordinator, tpo)
    assert await read(gql, coordinator) == before
    assert await assert_stored_equals_live(app) == 1


async def test_an_allogeneic_hsct_stops_the_sustained_response_window(app, gql, token, site_s01):
    # given: R, N, R, R after CD19: sustained by the last two
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    await responsive(gql, coordinator, "S01-001", DAY_1)
    await refractory(gql, coordinator, "S01-001", DAY_1 + timedelta(days=7))
    late = [(await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=d)))[0] for d in (14, 21)]
    before = await read(gql, coordinator)
    assert before["subject"]["plateletResponse"]["sustained"] is True
    # when: an allogeneic HSCT on day 14 (the date of the third transfusion)
    hsct = await record_procedure(
        gql, coordinator, "S01-001", type="HSCT", hsctType="ALLOGENEIC", performedOn=day(DAY_1, 14)
    )
    # then: the later transfusions are listed, classified, not counted
    data = await read(gql, coordinator)
    by_id = {t["id"]: t["response"] for t in data["subject"]["transfusions"]}
    assert [by_id[i]["category"] for i in late] == ["RESPONSIVE", "RESPONSIVE"]
    assert [(by_id[i]["countedForEndpoint"], by_id[i]["excludedReason"]) for i in late] == [(False, "AFTER_HSCT")] * 2
    response = data["subject"]["plateletResponse"]
    assert (response["sustained"], response["evaluableTransfusions"], response["followUpEndsOn"]) == (
        False,
        2,
        day(DAY_1, 14),
    )
    assert response["rule"].startswith("sustained-v2")
    assert data["trial"]["main"]["responders"] == 0
    assert await assert_stored_equals_live(app) == 1
    # when: an autologous one instead (amended): follow-up goes on
    await succeed(
        gql,
        coordinator,
        "amendProcedure",
        "AmendProcedureInput",
        {"id": hsct, "reason": "typo", "hsctType": "AUTOLOGOUS"},
    )
    assert (await read(gql, coordinator))["subject"]["plateletResponse"]["sustained"] is True
    # when: back to allogeneic, then voided
    await succeed(
        gql,
        coordinator,
        "amendProcedure",
        "AmendProcedureInput",
        {"id": hsct, "reason": "typo", "hsctType": "ALLOGENEIC"},
    )
    assert (await read(gql, coordinator))["subject"]["plateletResponse"]["sustained"] is False
    await void(gql, coordinator, hsct)
    # then: as before
    assert await read(gql, coordinator) == before
    assert await assert_stored_equals_live(app) == 1


async def test_the_transplant_rule_is_a_protocol_parameter(app, gql, token, site_s01):
    # given: an allogeneic HSCT before two responsive transfusions
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    for d in (0, 7):
        await responsive(gql, coordinator, "S01-001", DAY_1 + timedelta(days=d))
    await record_procedure(gql, coordinator, "S01-001", type="HSCT", hsctType="ALLOGENEIC", performedOn=day(DAY_1, -1))
    assert (await read(gql, coordinator))["subject"]["plateletResponse"]["sustained"] is False
    # when: an amendment in force today says an HSCT does not end follow-up
    result = await mutate(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {
            "effectiveFrom": datetime.now(timezone.utc).date().isoformat(),
            "reason": "amendment 3",
            "hsctEndsFollowUp": False,
            "ivigConfoundingDays": 7,
        },
        "... on ProtocolParametersSuccess { protocolParameters { version hsctEndsFollowUp ivigConfoundingDays tpoRaConfounds } }",
    )
    assert result["protocolParameters"] == {
        "version": 2,
        "hsctEndsFollowUp": False,
        "ivigConfoundingDays": 7,
        "tpoRaConfounds": True,
    }
    # then
    assert (await read(gql, coordinator))["subject"]["plateletResponse"]["sustained"] is True
    assert await assert_stored_equals_live(app) == 1


TIMELINE = """query($code: String!) {
  subject(code: $code) {
    consentDate
    therapies { id class name dose doseUnit route frequency startDate endDate ongoing indication timing studyDay endStudyDay }
    procedures { id type hsctType performedOn notes studyDay }
    timeline { kind date endDate studyDay label record { __typename ... on Therapy { id } ... on Procedure { id } ... on CarTInfusion { id } } }
    withoutInfusions: timeline(includeInfusions: false) { kind }
  }
}"""


async def test_records_timeline_prior_or_concomitant_and_free_text(gql, token, site_s01):
    # given: a prior IVIG (ended before consent 2026-01-10), a splenectomy in 2024, tocilizumab after CD19
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    prior = await record_therapy(gql, coordinator, "S01-001", startDate="2025-12-01", endDate="2025-12-03")
    spleen = await record_procedure(gql, coordinator, "S01-001")
    toci = await record_therapy(
        gql,
        coordinator,
        "S01-001",
        **{"class": "IL6_BLOCKADE", "name": "tocilizumab", "dose": 8.0, "doseUnit": "MG_PER_KG"},
        startDate=day(CD19_AT, 2),
        endDate=day(CD19_AT, 2),
        frequency="ONCE",
        indication="CRS grade 2",
    )
    # when
    data = (await gql.data(coordinator, TIMELINE, {"code": "S01-001"}))["subject"]
    analyst = (await gql.data(token("analyst"), TIMELINE, {"code": "S01-001"}))["subject"]
    # then: prior/concomitant derived from the dates
    therapies = {t["id"]: t for t in data["therapies"]}
    assert therapies[prior]["timing"] == "PRIOR"
    assert therapies[toci]["timing"] == "CONCOMITANT"
    assert (therapies[toci]["studyDay"], therapies[toci]["indication"]) == (2, "CRS grade 2")
    assert data["procedures"] == [
        {
            "id": spleen,
            "type": "SPLENECTOMY",
            "hsctType": None,
            "performedOn": "2024-05-02",
            "notes": "laparoscopic",
            "studyDay": -646,
        }
    ]
    assert [(e["kind"], e["label"], e["studyDay"]) for e in data["timeline"]] == [
        ("PROCEDURE", "SPLENECTOMY", -646),
        ("THERAPY", "IVIG", -68),
        ("CAR_T_INFUSION", "CD19 CAR-T", 0),
        ("THERAPY", "tocilizumab", 2),
    ]
    assert [e["record"]["id"] for e in data["timeline"]][1] == prior
    assert [e["kind"] for e in data["withoutInfusions"]] == ["PROCEDURE", "THERAPY", "THERAPY"]
    # analysts: the same records without indications or notes
    assert [t["indication"] for t in analyst["therapies"]] == [None, None]
    assert analyst["procedures"][0]["notes"] is None
    assert [t["name"] for t in analyst["therapies"]] == ["IVIG", "tocilizumab"]


async def test_record_amend_void_are_audited_with_reasons(gql, token, site_s01):
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await new_subject(gql, admin, "S01-001")
    therapy = await record_therapy(gql, coordinator, "S01-001")
    await succeed(
        gql, coordinator, "amendTherapy", "AmendTherapyInput", {"id": therapy, "reason": "weighed", "dose": 0.8}
    )
    await void(gql, coordinator, therapy)
    query = """query($id: ID!) { auditEvents(recordId: $id) { edges { node { action reason changes entity } } } }"""
    events = [e["node"] for e in (await gql.data(admin, query, {"id": therapy}))["auditEvents"]["edges"]]
    assert [(e["entity"], e["action"], e["reason"]) for e in events] == [
        ("Therapy", "CREATE", None),
        ("Therapy", "UPDATE", "weighed"),
        ("Therapy", "VOID", "entered in error"),
    ]
    assert events[0]["changes"]["therapy_class"] == {"old": None, "new": "ivig"}
    assert events[1]["changes"] == {"dose": {"old": 1.0, "new": 0.8}}
    # voided: gone from the lists and from node(id:)
    data = await gql.data(
        admin,
        """query($id: ID!) { node(id: $id) { id } subject(code: "S01-001") { therapies { id } } }""",
        {"id": therapy},
    )
    assert data == {"node": None, "subject": {"therapies": []}}


THERAPIES = """query($classes: [TherapyClass!], $ongoingAt: Date, $after: Boolean, $sites: [String!], $first: Int, $cursor: String) {
  therapies(classes: $classes, ongoingAt: $ongoingAt, startedAfterFirstInfusion: $after, siteCodes: $sites, first: $first, after: $cursor) {
    totalCount edges { cursor node { id class name indication } } pageInfo { hasNextPage endCursor }
  }
}"""


async def test_therapies_connection_is_filtered_in_sql(gql, token, site_s01):
    # given: S01-001 (CD19 on 2026-02-07): IVIG before, rituximab on day 30 (ongoing);
    # S02-001 (no infusion): a TPO-RA
    admin = token("admin")
    await create_site(gql, admin, "S02")
    await new_subject(gql, admin, "S01-001")
    await new_subject(gql, admin, "S02-001", "S02", products=())
    ivig = await record_therapy(gql, admin, "S01-001", startDate="2026-01-20", endDate="2026-01-21")
    ritux = await record_therapy(
        gql,
        admin,
        "S01-001",
        **{"class": "ANTI_CD20", "name": "rituximab"},
        startDate=day(CD19_AT, 30),
        endDate=None,
        ongoing=True,
    )
    tpo = await record_therapy(
        gql,
        admin,
        "S02-001",
        **{"class": "TPO_RA", "name": "romiplostim"},
        startDate="2026-03-01",
        endDate=None,
        ongoing=True,
    )

    async def ids(auth: str, **variables: Any) -> list[str]:
        page = (await gql.data(auth, THERAPIES, variables))["therapies"]
        assert page["totalCount"] == len(page["edges"])
        return [e["node"]["id"] for e in page["edges"]]

    analyst = token("analyst")
    # then
    assert await ids(analyst) == [ivig, ritux, tpo]
    assert await ids(analyst, classes=["ANTI_CD20", "TPO_RA"]) == [ritux, tpo]
    assert await ids(analyst, ongoingAt="2026-01-21") == [ivig]
    assert await ids(analyst, ongoingAt="2026-04-01") == [ritux, tpo]
    assert await ids(analyst, after=True) == [ritux]
    assert await ids(analyst, after=False) == [ivig, tpo]
    assert await ids(analyst, sites=["S02"]) == [tpo]
    assert await ids(token("coordinator", "S01")) == [ivig, ritux]
    assert await ids(token("patient", subject="S02-001")) == [tpo]
    page = (await gql.data(analyst, THERAPIES, {"first": 2}))["therapies"]
    assert (page["totalCount"], len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (3, 2, True)
    rest = (await gql.data(analyst, THERAPIES, {"first": 2, "cursor": page["pageInfo"]["endCursor"]}))["therapies"]
    assert [e["node"]["id"] for e in rest["edges"]] == [tpo]
    assert all(e["node"]["indication"] is None for e in page["edges"])


DEVIATIONS = """query($sites: [String!]) {
  protocolDeviations(siteCodes: $sites) {
    site { code }
    deviations { subjectCode startDate studyDay rule therapy { id class name } }
  }
}"""


async def test_protocol_deviations_per_site_for_monitors_investigators_and_admins(gql, token, site_s01):
    # given: rituximab on day 30 after CD19 at S01; bortezomib at S02 on day 5; rituximab before CD19 (no deviation)
    admin = token("admin")
    await create_site(gql, admin, "S02")
    await new_subject(gql, admin, "S01-001")
    await new_subject(gql, admin, "S02-001", "S02")
    await record_therapy(
        gql,
        admin,
        "S01-001",
        **{"class": "ANTI_CD20", "name": "rituximab"},
        startDate="2026-01-20",
        endDate="2026-01-20",
    )
    ritux = await record_therapy(
        gql,
        admin,
        "S01-001",
        **{"class": "ANTI_CD20", "name": "rituximab"},
        startDate=day(CD19_AT, 30),
        endDate=day(CD19_AT, 30),
    )
    bortezomib = await record_therapy(
        gql,
        admin,
        "S02-001",
        **{"class": "ANTI_PLASMA_CELL", "name": "bortezomib"},
        startDate=day(CD19_AT, 5),
        endDate=None,
        ongoing=True,
    )
    # when
    all_sites = (await gql.data(admin, DEVIATIONS))["protocolDeviations"]
    # then
    assert [
        (s["site"]["code"], [(d["subjectCode"], d["therapy"]["id"], d["studyDay"]) for d in s["deviations"]])
        for s in all_sites
    ] == [
        ("S01", [("S01-001", ritux, 30)]),
        ("S02", [("S02-001", bortezomib, 5)]),
    ]
    assert all_sites[0]["deviations"][0]["rule"].startswith("deviation-anti-b-cell-v1")
    for role in ("monitor", "investigator"):
        mine = (await gql.data(token(role, "S01"), DEVIATIONS))["protocolDeviations"]
        assert [s["site"]["code"] for s in mine] == ["S01"]
    assert [
        s["site"]["code"] for s in (await gql.data(admin, DEVIATIONS, {"sites": ["S02"]}))["protocolDeviations"]
    ] == ["S02"]
    for role, auth in (
        ("coordinator", token("coordinator", "S01")),
        ("analyst", token("analyst")),
        ("patient", token("patient", subject="S01-001")),
    ):
        body = await gql(auth, DEVIATIONS)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED", role


NESTED = """query {
  subjects(first: 50) { edges { node {
    code
    therapies { class name studyDay timing }
    procedures { type studyDay }
    timeline { kind studyDay label record { __typename } }
    transfusions { response { category confoundedByTherapy { class } countedForEndpoint excludedReason } }
    plateletResponse { sustained followUpEndsOn sensitivity { sustained } }
  } } }
  therapies(first: 100) { totalCount edges { node { class studyDay timing } } }
}"""

T0 = datetime(2026, 1, 20, 10, 0, tzinfo=timezone.utc)


async def seed(sessionmaker: Any, first: int, count: int) -> None:
    """Subjects with a CD19 infusion, two transfusions, an IVIG, a TPO-RA and an HSCT (rows written
    directly: fast; no audit needed for a statement count)."""
    stamps = {"created_at": T0, "updated_at": T0, "voided_at": None, "void_reason": None}
    async with sessionmaker() as session, session.begin():
        site_id = (await session.execute(m.Site.__table__.select().where(m.Site.code == "S01"))).one().id
        for n in range(first, first + count):
            subject = m.Subject(
                trial_id=1, site_id=site_id, code=f"S01-{n:03d}", sex="female", year_of_birth=1980, age_at_consent=45,
                diagnosis="aml", remission_status="cr1", consent_date=date(2026, 1, 2), status="infused",
                created_at=T0, updated_at=T0,
            )  # fmt: skip
            session.add(subject)
            await session.flush()
            session.add(
                m.CarTInfusion(
                    subject_id=subject.id, product="cd19", infused_at=T0, lot_number="L", created_at=T0, updated_at=T0
                )
            )
            await session.execute(
                insert(m.PlateletTransfusion),
                [
                    {
                        "subject_id": subject.id, "started_at": T0 + timedelta(days=d), "ended_at": T0 + timedelta(days=d, minutes=30),
                        "units": [{"kind": "apheresis", "content_e11": 3.0, "content_basis": "measured"}],
                        "abo_compatibility": "identical", "hla_selected": False, "crossmatched": False, "storage_age_days": 2,
                        "note": None, **stamps,
                    }
                    for d in (5, 40)
                ],
            )  # fmt: skip
            common = {"dose": 1.0, "dose_unit": TherapyDoseUnit.G_PER_KG, "route": TherapyRoute.INTRAVENOUS, **stamps}
            await session.execute(
                insert(m.Therapy),
                [
                    {"subject_id": subject.id, "name": "IVIG", "therapy_class": TherapyClass.IVIG, "frequency": DoseFrequency.ONCE,
                     "start_date": date(2026, 1, 22), "end_date": date(2026, 1, 22), "ongoing": False, "indication": "x", **common},
                    {"subject_id": subject.id, "name": "eltrombopag", "therapy_class": TherapyClass.TPO_RA, "frequency": DoseFrequency.QD,
                     "start_date": date(2026, 2, 20), "end_date": None, "ongoing": True, "indication": None, **common},
                ],
            )  # fmt: skip
            await session.execute(
                insert(m.Procedure),
                [{"subject_id": subject.id, "procedure_type": "hsct", "hsct_type": "allogeneic", "performed_on": date(2026, 3, 1), "notes": "n", **stamps}],
            )  # fmt: skip


async def test_statement_count_does_not_grow_with_the_cohort(app, gql, token, sql_statements, site_s01):
    # given: 3 subjects
    sessionmaker = app.state.sessionmaker
    analyst = token("analyst")
    await seed(sessionmaker, 1, 3)
    await refresh_all(app)
    # warm-up: connections and the protocol versions the process keeps (PostgreSQL)
    await gql.data(analyst, "{ trial { protocolParameters { version } } }")

    async def run() -> tuple[int, dict[str, Any]]:
        before = sql_statements.count
        data = await gql.data(analyst, NESTED)
        return sql_statements.count - before, data

    small, small_data = await run()
    # when: grown to 30
    await seed(sessionmaker, 4, 27)
    await refresh_all(app)
    large, large_data = await run()
    # then
    nodes = [e["node"] for e in large_data["subjects"]["edges"]]
    assert len(nodes) == 30 and large_data["therapies"]["totalCount"] == 60
    assert {len(n["timeline"]) for n in nodes} == {4}
    first = nodes[0]
    assert [t["response"]["confoundedByTherapy"] for t in first["transfusions"]] == [
        {"class": "IVIG"},
        {"class": "TPO_RA"},
    ]
    assert [t["response"]["excludedReason"] for t in first["transfusions"]] == [None, "AFTER_HSCT"]
    assert first["plateletResponse"]["followUpEndsOn"] == "2026-03-01"
    print(f"\ntherapies, procedures, timeline: {small} -> {large} statements")
    assert large == small
    assert small_data["therapies"]["totalCount"] == 6
