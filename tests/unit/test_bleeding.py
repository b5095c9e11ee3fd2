"""Bleeding reported by patients (DOMAIN.md): WHO grade per symptom and per day, red flags, CTCAE
term proposals, advice, episode merging, late entries, the patient's calendar day and the checks."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain import bleeding as b
from server.domain import ctcae
from server.domain.bleeding import BleedingSite as Site
from server.domain.bleeding import NeurologicalSigns, RedFlag, Symptom
from server.domain.protocol import DEFAULT_PARAMETERS
from server.domain.validation import Problem, ProblemCode
from server.services.terms import trial_terms

C = ProblemCode
UTC = timezone.utc
NO_SIGNS = NeurologicalSigns()
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def codes(problems: list[Problem]) -> list[tuple[tuple[str, ...], ProblemCode]]:
    return [(p.field, p.code) for p in problems]


# Strategies: any symptom the diary can carry (values inside the checked ranges).
sites = st.sampled_from(list(Site))
symptoms = st.builds(
    Symptom,
    site=sites,
    duration_minutes=st.none() | st.integers(0, 24 * 60),
    size_cm=st.none() | st.floats(0, 100, allow_nan=False),
    stopped=st.none() | st.booleans(),
    medical_help_needed=st.booleans(),
    black_or_tarry=st.booleans(),
    beyond_spotting=st.booleans(),
    deep_swelling=st.booleans(),
)
signs_st = st.builds(
    NeurologicalSigns,
    sudden_severe_headache=st.booleans(),
    new_confusion=st.booleans(),
    vision_change=st.booleans(),
    new_weakness=st.booleans(),
)


# --- WHO grade of one symptom: the DOMAIN.md table row by row -----------------------------------


@pytest.mark.parametrize(
    ("symptom", "expected"),
    [
        # nosebleed or mouth/gum bleeding, total <= 30 min -> 1; > 30 min -> 2
        (Symptom(Site.NOSE), 1),
        (Symptom(Site.NOSE, duration_minutes=0), 1),
        (Symptom(Site.NOSE, duration_minutes=30), 1),
        (Symptom(Site.NOSE, duration_minutes=31), 2),
        (Symptom(Site.NOSE, duration_minutes=1440), 2),
        (Symptom(Site.GUMS_MOUTH), 1),
        (Symptom(Site.GUMS_MOUTH, duration_minutes=30), 1),
        (Symptom(Site.GUMS_MOUTH, duration_minutes=31), 2),
        # petechiae (pinpoint red spots) -> 1
        (Symptom(Site.SKIN_SPOTS), 1),
        (Symptom(Site.SKIN_SPOTS, duration_minutes=45), 1),
        # bruise <= 1 inch (2.54 cm) -> 1; larger, or a deep swelling -> 2
        (Symptom(Site.BRUISE), 1),
        (Symptom(Site.BRUISE, size_cm=0.5), 1),
        (Symptom(Site.BRUISE, size_cm=2.54), 1),
        (Symptom(Site.BRUISE, size_cm=2.55), 2),
        (Symptom(Site.BRUISE, size_cm=10.0), 2),
        (Symptom(Site.BRUISE, size_cm=1.0, deep_swelling=True), 2),
        (Symptom(Site.BRUISE, deep_swelling=True), 2),
        # vaginal spotting -> 1; beyond spotting -> 2
        (Symptom(Site.VAGINAL), 1),
        (Symptom(Site.VAGINAL, beyond_spotting=True), 2),
        # visible blood in urine, stool (black/tarry or visible), vomit, sputum -> 2
        (Symptom(Site.URINE), 2),
        (Symptom(Site.STOOL), 2),
        (Symptom(Site.STOOL, black_or_tarry=True), 2),
        (Symptom(Site.VOMIT), 2),
        (Symptom(Site.SPUTUM), 2),
        # eye -> 1; head: not gradable from a diary (the clinician assesses)
        (Symptom(Site.EYE), 1),
        (Symptom(Site.HEAD), None),
        (Symptom(Site.HEAD, duration_minutes=120, stopped=False), None),
    ],
)
def test_who_grade_follows_the_domain_table(symptom: Symptom, expected: int | None) -> None:
    # when
    grade = b.who_grade(symptom)

    # then
    assert grade == expected


def test_thresholds_are_the_domain_numbers() -> None:
    assert (b.LONG_BLEED_MINUTES, b.BRUISE_GRADE_2_CM, b.RED_FLAG_MINUTES) == (30, 2.54, 60)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ([], None),
        ([Symptom(Site.HEAD)], None),
        ([Symptom(Site.SKIN_SPOTS)], 1),
        ([Symptom(Site.SKIN_SPOTS), Symptom(Site.HEAD)], 1),
        ([Symptom(Site.NOSE, duration_minutes=10), Symptom(Site.URINE)], 2),
        ([Symptom(Site.URINE), Symptom(Site.NOSE, duration_minutes=10)], 2),
        ([Symptom(Site.BRUISE, size_cm=1.0), Symptom(Site.EYE), Symptom(Site.VAGINAL)], 1),
        ([Symptom(Site.BRUISE, size_cm=1.0), Symptom(Site.BRUISE, size_cm=3.0)], 2),
    ],
)
def test_the_days_grade_is_the_worst_sites(day: list[Symptom], expected: int | None) -> None:
    assert b.day_who_grade(day) == expected


@given(st.lists(symptoms, max_size=8))
def test_day_grade_is_the_max_of_gradable_symptoms_and_never_above_2(day: list[Symptom]) -> None:
    # when
    grade = b.day_who_grade(day)

    # then
    graded = [g for g in map(b.who_grade, day) if g is not None]
    assert grade == (max(graded) if graded else None)
    assert grade in (None, 1, 2)  # a diary supports WHO grades 1-2 only
    assert b.day_who_grade(list(reversed(day))) == grade


# --- red flags -----------------------------------------------------------------------------------

P = RedFlag.PROLONGED_OR_NOT_STOPPING


@pytest.mark.parametrize(
    ("day", "signs", "expected"),
    [
        ([Symptom(Site.NOSE, duration_minutes=10, stopped=True)], NO_SIGNS, []),
        ([Symptom(Site.NOSE, duration_minutes=60, stopped=True)], NO_SIGNS, []),
        ([Symptom(Site.NOSE, duration_minutes=61, stopped=True)], NO_SIGNS, [P]),
        ([Symptom(Site.NOSE, duration_minutes=5, stopped=False)], NO_SIGNS, [P]),
        ([Symptom(Site.NOSE, duration_minutes=5)], NO_SIGNS, []),  # stopped unknown: not a flag
        ([Symptom(Site.GUMS_MOUTH, duration_minutes=61)], NO_SIGNS, [P]),
        ([Symptom(Site.URINE, duration_minutes=90)], NO_SIGNS, [P]),  # any site
        ([Symptom(Site.BRUISE, stopped=False)], NO_SIGNS, [P]),
        ([Symptom(Site.VOMIT)], NO_SIGNS, [RedFlag.VOMITING_BLOOD]),
        ([Symptom(Site.STOOL, black_or_tarry=True)], NO_SIGNS, [RedFlag.BLACK_STOOL]),
        ([Symptom(Site.STOOL)], NO_SIGNS, []),  # visible red blood: grade 2, not a red flag
        ([Symptom(Site.HEAD)], NO_SIGNS, [RedFlag.SUDDEN_SEVERE_HEADACHE]),
        ([], NeurologicalSigns(sudden_severe_headache=True), [RedFlag.SUDDEN_SEVERE_HEADACHE]),
        ([], NeurologicalSigns(new_confusion=True), [RedFlag.NEW_CONFUSION]),
        ([], NeurologicalSigns(vision_change=True), [RedFlag.VISION_CHANGE]),
        ([], NeurologicalSigns(new_weakness=True), [RedFlag.NEW_WEAKNESS]),
        ([Symptom(Site.SKIN_SPOTS), Symptom(Site.BRUISE, size_cm=5.0), Symptom(Site.URINE)], NO_SIGNS, []),
    ],
)
def test_red_flags(day: list[Symptom], signs: NeurologicalSigns, expected: list[RedFlag]) -> None:
    # when
    flags = b.red_flags(day, signs)

    # then
    assert flags == expected


def test_red_flags_are_deduplicated_in_the_enum_order() -> None:
    # given: every flag, several twice, reported in reverse order
    day = [
        Symptom(Site.HEAD),
        Symptom(Site.STOOL, black_or_tarry=True, stopped=False),
        Symptom(Site.VOMIT, duration_minutes=90),
        Symptom(Site.NOSE, duration_minutes=61),
        Symptom(Site.VOMIT),
    ]
    signs = NeurologicalSigns(sudden_severe_headache=True, new_confusion=True, vision_change=True, new_weakness=True)

    # when
    flags = b.red_flags(day, signs)

    # then
    assert flags == [
        RedFlag.PROLONGED_OR_NOT_STOPPING,
        RedFlag.VOMITING_BLOOD,
        RedFlag.BLACK_STOOL,
        RedFlag.SUDDEN_SEVERE_HEADACHE,
        RedFlag.NEW_CONFUSION,
        RedFlag.VISION_CHANGE,
        RedFlag.NEW_WEAKNESS,
    ]


@given(st.lists(symptoms, max_size=8), signs_st, st.randoms())
def test_red_flags_are_unique_ordered_and_independent_of_report_order(
    day: list[Symptom], signs: NeurologicalSigns, rnd: random.Random
) -> None:
    # given
    shuffled = list(day)
    rnd.shuffle(shuffled)

    # when
    flags = b.red_flags(day, signs)

    # then
    order = list(RedFlag)
    assert len(set(flags)) == len(flags)
    assert [order.index(f) for f in flags] == sorted(order.index(f) for f in flags)
    assert b.red_flags(shuffled, signs) == flags
    assert (RedFlag.NEW_CONFUSION in flags) == signs.new_confusion
    assert (RedFlag.VISION_CHANGE in flags) == signs.vision_change
    assert (RedFlag.NEW_WEAKNESS in flags) == signs.new_weakness
    headache = signs.sudden_severe_headache or any(s.site is Site.HEAD for s in day)
    assert (RedFlag.SUDDEN_SEVERE_HEADACHE in flags) == headache
    assert (RedFlag.VOMITING_BLOOD in flags) == any(s.site is Site.VOMIT for s in day)
    assert (RedFlag.BLACK_STOOL in flags) == any(s.site is Site.STOOL and s.black_or_tarry for s in day)
    prolonged = any((s.duration_minutes or 0) > 60 or s.stopped is False for s in day)
    assert (P in flags) == prolonged


# --- CTCAE term proposals ------------------------------------------------------------------------

SITE_CODES = [
    (Site.NOSE, 10015090, "Epistaxis"),
    (Site.GUMS_MOUTH, 10030980, "Oral hemorrhage"),
    (Site.URINE, 10019450, "Hematuria"),
    (Site.STOOL, 10051746, "Lower gastrointestinal hemorrhage"),
    (Site.VOMIT, 10055356, "Upper gastrointestinal hemorrhage"),
    (Site.SPUTUM, 10065746, "Bronchopulmonary hemorrhage"),
    (Site.VAGINAL, 10046912, "Vaginal hemorrhage"),
    (Site.SKIN_SPOTS, 10037549, "Purpura"),
    (Site.BRUISE, 10006504, "Bruising"),
    (Site.EYE, 10015919, "Eye disorders - Other, specify"),
]


@pytest.mark.parametrize(("site", "code", "name"), SITE_CODES)
def test_each_site_proposes_its_domain_term_at_grade_1_or_2_with_medical_help(site: Site, code: int, name: str) -> None:
    # when
    plain = b.ctcae_proposal(Symptom(site))
    helped = b.ctcae_proposal(Symptom(site, medical_help_needed=True))

    # then
    assert plain == b.TermProposal(code, 1, site)
    assert helped == b.TermProposal(code, 2, site)
    assert trial_terms()[code].name == name


def test_every_site_but_head_has_a_term_and_head_proposes_none() -> None:
    assert {site for site, _, _ in SITE_CODES} == set(Site) - {Site.HEAD}
    assert b.ctcae_proposal(Symptom(Site.HEAD)) is None
    assert b.ctcae_proposal(Symptom(Site.HEAD, medical_help_needed=True)) is None


def test_the_proposal_grade_does_not_depend_on_the_who_grade() -> None:
    # a 45-minute nosebleed is WHO 2 but, without medical help, CTCAE grade 1 (mild, no intervention)
    assert b.ctcae_proposal(Symptom(Site.NOSE, duration_minutes=45)) == b.TermProposal(ctcae.EPISTAXIS, 1, Site.NOSE)


@pytest.mark.parametrize("site", [site for site, _, _ in SITE_CODES])
@pytest.mark.parametrize("help_needed", [False, True])
def test_every_proposed_grade_is_one_the_term_defines(site: Site, help_needed: bool) -> None:
    # given
    proposal = b.ctcae_proposal(Symptom(site, medical_help_needed=help_needed))

    # then
    assert proposal is not None
    term = trial_terms()[proposal.meddra_code]
    assert proposal.grade in term.grades
    assert ctcae.GradingScale.CTCAE_V5 in term.allowed_scales()


@given(st.lists(symptoms, max_size=10), signs_st)
def test_assessment_proposals_are_allowed_unique_and_at_the_worst_grade(
    day: list[Symptom], signs: NeurologicalSigns
) -> None:
    # when
    assessment = b.assess_report(day, signs)

    # then
    terms = trial_terms()
    proposal_codes = [p.meddra_code for p in assessment.proposals]
    assert proposal_codes == sorted(set(proposal_codes))
    expected: dict[int, int] = {}
    for s in day:
        if s.site in b.SITE_TERMS:
            code = b.SITE_TERMS[s.site]
            expected[code] = max(expected.get(code, 0), 2 if s.medical_help_needed else 1)
    assert {p.meddra_code: p.grade for p in assessment.proposals} == expected
    for p in assessment.proposals:
        assert p.grade in terms[p.meddra_code].grades
        assert b.SITE_TERMS[p.site] == p.meddra_code
    assert assessment.who_grade == b.day_who_grade(day)
    assert list(assessment.red_flags) == b.red_flags(day, signs)


def test_two_symptoms_at_one_site_propose_one_term_at_the_worst_grade() -> None:
    # given
    day = [
        Symptom(Site.NOSE, duration_minutes=10),
        Symptom(Site.NOSE, duration_minutes=20, medical_help_needed=True),
        Symptom(Site.NOSE, duration_minutes=5),
        Symptom(Site.BRUISE, size_cm=1.0),
        Symptom(Site.HEAD),
    ]

    # when
    assessment = b.assess_report(day, NO_SIGNS)

    # then
    assert assessment.proposals == (
        b.TermProposal(ctcae.BRUISING, 1, Site.BRUISE),
        b.TermProposal(ctcae.EPISTAXIS, 2, Site.NOSE),
    )
    assert assessment.who_grade == 1
    assert assessment.red_flags == (RedFlag.SUDDEN_SEVERE_HEADACHE,)


# --- alert and advice ----------------------------------------------------------------------------

ADVICE_RED_FLAG = "Call your study site now. If you cannot reach them, go to the emergency department."
ADVICE_GRADE_2 = "Your study team has been told and will contact you. Call the site if the bleeding gets worse."
ADVICE_OTHER = "Thank you. Your study team will review this report."


@pytest.mark.parametrize(
    ("day", "signs", "alert", "advice"),
    [
        ([Symptom(Site.NOSE, duration_minutes=10, stopped=True)], NO_SIGNS, False, ADVICE_OTHER),
        ([Symptom(Site.SKIN_SPOTS)], NO_SIGNS, False, ADVICE_OTHER),
        ([Symptom(Site.NOSE, duration_minutes=31, stopped=True)], NO_SIGNS, True, ADVICE_GRADE_2),
        ([Symptom(Site.URINE)], NO_SIGNS, True, ADVICE_GRADE_2),
        ([Symptom(Site.NOSE, duration_minutes=61, stopped=True)], NO_SIGNS, True, ADVICE_RED_FLAG),
        ([Symptom(Site.NOSE, duration_minutes=5, stopped=False)], NO_SIGNS, True, ADVICE_RED_FLAG),
        ([Symptom(Site.VOMIT)], NO_SIGNS, True, ADVICE_RED_FLAG),
        ([Symptom(Site.HEAD)], NO_SIGNS, True, ADVICE_RED_FLAG),  # no WHO grade, still an alert
        ([], NeurologicalSigns(new_weakness=True), True, ADVICE_RED_FLAG),
        ([], NO_SIGNS, False, ADVICE_OTHER),
    ],
)
def test_alert_and_advice(day: list[Symptom], signs: NeurologicalSigns, alert: bool, advice: str) -> None:
    # when
    assessment = b.assess_report(day, signs)

    # then
    assert assessment.raises_alert is alert
    assert assessment.advice == advice


def test_the_three_advice_texts_differ() -> None:
    assert len({ADVICE_RED_FLAG, ADVICE_GRADE_2, ADVICE_OTHER}) == 3


@given(st.lists(symptoms, max_size=8), signs_st)
def test_an_alert_is_raised_exactly_for_a_red_flag_or_who_grade_2(day: list[Symptom], signs: NeurologicalSigns) -> None:
    # when
    assessment = b.assess_report(day, signs)

    # then
    flagged = bool(b.red_flags(day, signs))
    grade_2 = b.day_who_grade(day) == 2
    assert assessment.raises_alert is (flagged or grade_2)
    expected = ADVICE_RED_FLAG if flagged else ADVICE_GRADE_2 if grade_2 else ADVICE_OTHER
    assert assessment.advice == expected


# --- episodes: a report continues an open event of the same term within the gap ----------------

EPI = ctcae.EPISTAXIS
GAP = DEFAULT_PARAMETERS.bleeding_episode_gap_hours


def test_the_default_episode_gap_is_48_hours_and_the_entry_window_7_days() -> None:
    assert (GAP, DEFAULT_PARAMETERS.diary_entry_window_days) == (48, 7)


@pytest.mark.parametrize(
    ("delta", "continues"),
    [
        (timedelta(0), True),
        (timedelta(hours=1), True),
        (timedelta(hours=48), True),
        (timedelta(hours=48, seconds=1), False),
        (timedelta(days=5), False),
        (-timedelta(hours=48), True),  # a late entry noticed before the latest report
        (-timedelta(hours=48, seconds=1), False),
    ],
)
def test_episode_gap_boundary(delta: timedelta, continues: bool) -> None:
    # given
    episode = b.OpenEpisode(7, EPI, T0)

    # when
    found = b.continuing_episode([episode], EPI, T0 + delta, GAP)

    # then
    assert found == (episode if continues else None)


def test_another_term_never_continues_an_episode() -> None:
    # given
    episodes = [b.OpenEpisode(1, ctcae.BRUISING, T0), b.OpenEpisode(2, ctcae.PURPURA, T0)]

    # when / then
    assert b.continuing_episode(episodes, EPI, T0, GAP) is None
    assert b.continuing_episode([], EPI, T0, GAP) is None


def test_the_latest_matching_episode_is_continued() -> None:
    # given
    older = b.OpenEpisode(1, EPI, T0 - timedelta(hours=30))
    latest = b.OpenEpisode(2, EPI, T0 - timedelta(hours=2))
    other_term = b.OpenEpisode(3, ctcae.BRUISING, T0 - timedelta(hours=1))
    too_old = b.OpenEpisode(4, EPI, T0 - timedelta(hours=49))

    # when
    found = b.continuing_episode([older, other_term, latest, too_old], EPI, T0, GAP)

    # then
    assert found == latest


def test_the_gap_is_a_parameter() -> None:
    episode = b.OpenEpisode(1, EPI, T0)
    assert b.continuing_episode([episode], EPI, T0 + timedelta(hours=24), 24) == episode
    assert b.continuing_episode([episode], EPI, T0 + timedelta(hours=24, seconds=1), 24) is None


@given(
    st.lists(
        st.tuples(st.sampled_from([EPI, ctcae.BRUISING]), st.integers(-200 * 3600, 200 * 3600)),
        max_size=6,
    ),
    st.integers(-200 * 3600, 200 * 3600),
)
def test_continuing_episode_property(raw: list[tuple[int, int]], offset_s: int) -> None:
    # given
    episodes = [b.OpenEpisode(i, code, T0 + timedelta(seconds=s)) for i, (code, s) in enumerate(raw)]
    noticed = T0 + timedelta(seconds=offset_s)

    # when
    found = b.continuing_episode(episodes, EPI, noticed, GAP)

    # then
    near = [e for e in episodes if e.meddra_code == EPI and abs(noticed - e.last_noticed_at) <= timedelta(hours=GAP)]
    if not near:
        assert found is None
    else:
        assert found in near
        assert found.last_noticed_at == max(e.last_noticed_at for e in near)


# --- late entries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_after", "late"),
    [
        (timedelta(0), False),
        (timedelta(days=6, hours=23), False),
        (timedelta(days=7), False),
        (timedelta(days=7, seconds=1), True),
        (timedelta(days=30), True),
    ],
)
def test_is_late_after_the_entry_window(received_after: timedelta, late: bool) -> None:
    assert b.is_late(T0, T0 + received_after, 7) is late


def test_the_entry_window_is_a_parameter() -> None:
    assert b.is_late(T0, T0 + timedelta(days=2), 1) is True
    assert b.is_late(T0, T0 + timedelta(days=2), 2) is False


# --- the patient's calendar day ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("noticed_at", "offset", "expected"),
    [
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), 0, date(2026, 3, 1)),
        (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), 120, date(2026, 3, 2)),
        (datetime(2026, 3, 1, 21, 59, tzinfo=UTC), 120, date(2026, 3, 1)),
        (datetime(2026, 3, 1, 22, 0, tzinfo=UTC), 120, date(2026, 3, 2)),
        (datetime(2026, 3, 2, 0, 30, tzinfo=UTC), -60, date(2026, 3, 1)),
        (datetime(2026, 3, 2, 1, 0, tzinfo=UTC), -60, date(2026, 3, 2)),
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 14 * 60, date(2026, 3, 2)),
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), -12 * 60, date(2026, 2, 28)),
        (datetime(2026, 3, 1, 18, 15, tzinfo=UTC), 344, date(2026, 3, 1)),
        (datetime(2026, 3, 1, 18, 15, tzinfo=UTC), 345, date(2026, 3, 2)),  # Nepal, +05:45: midnight
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), 60, date(2027, 1, 1)),
        # The same instant written with another zone gives the same day.
        (datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2))), 120, date(2026, 3, 2)),
        (datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))), -300, date(2026, 3, 1)),
        (datetime(2026, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=1))), 60, date(2026, 3, 1)),
        # 07:00 at +08:00 is 23:00 UTC the day before: at a device offset of 0 that is still 1 March.
        (datetime(2026, 3, 2, 7, 0, tzinfo=timezone(timedelta(hours=8))), 0, date(2026, 3, 1)),
    ],
)
def test_local_date(noticed_at: datetime, offset: int, expected: date) -> None:
    assert b.local_date(noticed_at, offset) == expected


@given(
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)),
    st.integers(-14 * 60, 14 * 60),
    st.integers(-14 * 60, 14 * 60),
)
def test_local_date_is_the_day_at_the_device_offset_whatever_zone_the_instant_is_written_in(
    instant: datetime, offset: int, written_offset: int
) -> None:
    # given: the same instant written in another zone
    written = instant.astimezone(timezone(timedelta(minutes=written_offset)))

    # when
    day = b.local_date(written, offset)

    # then
    assert day == instant.astimezone(timezone(timedelta(minutes=offset))).date()
    assert day == b.local_date(instant, offset)
    assert abs((day - instant.date()).days) <= 1


# --- checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "signs", "expected"),
    [
        ([Symptom(Site.NOSE)], NO_SIGNS, []),
        ([], NO_SIGNS, [(("symptoms",), C.REQUIRED)]),
        ([], NeurologicalSigns(new_confusion=True), []),
        ([], NeurologicalSigns(sudden_severe_headache=True), []),
        ([Symptom(Site.NOSE, duration_minutes=0)], NO_SIGNS, []),
        ([Symptom(Site.NOSE, duration_minutes=1440)], NO_SIGNS, []),
        (
            [Symptom(Site.NOSE, duration_minutes=1441)],
            NO_SIGNS,
            [(("symptoms", "0", "durationMinutes"), C.OUT_OF_RANGE)],
        ),
        ([Symptom(Site.NOSE, duration_minutes=-1)], NO_SIGNS, [(("symptoms", "0", "durationMinutes"), C.OUT_OF_RANGE)]),
        ([Symptom(Site.BRUISE, size_cm=0.0)], NO_SIGNS, []),
        ([Symptom(Site.BRUISE, size_cm=100.0)], NO_SIGNS, []),
        ([Symptom(Site.BRUISE, size_cm=100.1)], NO_SIGNS, [(("symptoms", "0", "sizeCm"), C.OUT_OF_RANGE)]),
        ([Symptom(Site.BRUISE, size_cm=-0.1)], NO_SIGNS, [(("symptoms", "0", "sizeCm"), C.OUT_OF_RANGE)]),
        ([Symptom(Site.BRUISE, size_cm=float("nan"))], NO_SIGNS, [(("symptoms", "0", "sizeCm"), C.OUT_OF_RANGE)]),
        (
            [Symptom(Site.SKIN_SPOTS), Symptom(Site.NOSE, duration_minutes=-5, size_cm=200.0)],
            NO_SIGNS,
            [(("symptoms", "1", "durationMinutes"), C.OUT_OF_RANGE), (("symptoms", "1", "sizeCm"), C.OUT_OF_RANGE)],
        ),
        ([Symptom(Site.SKIN_SPOTS)] * 20, NO_SIGNS, []),
        ([Symptom(Site.SKIN_SPOTS)] * 21, NO_SIGNS, [(("symptoms",), C.OUT_OF_RANGE)]),
    ],
)
def test_check_symptoms(
    day: list[Symptom], signs: NeurologicalSigns, expected: list[tuple[object, ProblemCode]]
) -> None:
    assert codes(b.check_symptoms(day, signs)) == expected


@given(st.lists(symptoms, min_size=1, max_size=20), signs_st)
def test_symptoms_inside_the_ranges_always_pass(day: list[Symptom], signs: NeurologicalSigns) -> None:
    assert b.check_symptoms(day, signs) == []


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ({}, []),
        ({"nosebleedFrequency": None, "nosebleedSeverity": None, "bruising": None}, []),
        ({"nosebleedFrequency": 0, "nosebleedSeverity": 0}, []),
        ({"nosebleedFrequency": 4, "nosebleedSeverity": 4, "bruising": True}, []),
        ({"nosebleedFrequency": 5}, [(("proCtcae", "nosebleedFrequency"), C.OUT_OF_RANGE)]),
        ({"nosebleedFrequency": -1}, [(("proCtcae", "nosebleedFrequency"), C.OUT_OF_RANGE)]),
        ({"nosebleedSeverity": 5}, [(("proCtcae", "nosebleedSeverity"), C.OUT_OF_RANGE)]),
        ({"nosebleedSeverity": -1}, [(("proCtcae", "nosebleedSeverity"), C.OUT_OF_RANGE)]),
        (
            {"nosebleedFrequency": 9, "nosebleedSeverity": 9},
            [(("proCtcae", "nosebleedFrequency"), C.OUT_OF_RANGE), (("proCtcae", "nosebleedSeverity"), C.OUT_OF_RANGE)],
        ),
    ],
)
def test_check_pro_ctcae(items: dict[str, int | bool | None], expected: list[tuple[object, ProblemCode]]) -> None:
    assert codes(b.check_pro_ctcae(items)) == expected


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_pro_ctcae_scales_are_0_to_4(frequency: int, severity: int) -> None:
    # when
    problems = b.check_pro_ctcae({"nosebleedFrequency": frequency, "nosebleedSeverity": severity})

    # then
    items = (("nosebleedFrequency", frequency), ("nosebleedSeverity", severity))
    expected = [name for name, value in items if not 0 <= value <= 4]
    assert [p.field[-1] for p in problems] == expected


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        (None, []),
        ("", []),
        ("x" * 2000, []),
        ("x" * 2001, [(("note",), C.TOO_LONG)]),
    ],
)
def test_check_note(note: str | None, expected: list[tuple[object, ProblemCode]]) -> None:
    assert codes(b.check_note(note)) == expected


# --- the daily grade: every report of the local day together (DOMAIN.md, amended) -------------

NOSE_20 = Symptom(Site.NOSE, duration_minutes=20)


def day_of(*reports: list[Symptom]) -> list[b.DayEntry]:
    return [b.DayEntry(tuple(symptoms)) for symptoms in reports]


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        # the DOMAIN.md rows, one report each
        ([[Symptom(Site.NOSE, duration_minutes=30)]], 1),
        ([[Symptom(Site.NOSE, duration_minutes=31)]], 2),
        ([[Symptom(Site.GUMS_MOUTH, duration_minutes=30)]], 1),
        ([[Symptom(Site.GUMS_MOUTH, duration_minutes=31)]], 2),
        ([[Symptom(Site.SKIN_SPOTS)]], 1),
        ([[Symptom(Site.BRUISE, size_cm=2.54)]], 1),
        ([[Symptom(Site.BRUISE, size_cm=2.55)]], 2),
        ([[Symptom(Site.BRUISE, deep_swelling=True)]], 2),
        ([[Symptom(Site.VAGINAL)]], 1),
        ([[Symptom(Site.VAGINAL, beyond_spotting=True)]], 2),
        ([[Symptom(Site.URINE)]], 2),
        ([[Symptom(Site.STOOL, black_or_tarry=True)]], 2),
        ([[Symptom(Site.VOMIT)]], 2),
        ([[Symptom(Site.SPUTUM)]], 2),
        # minutes of the same kind added across the day's reports
        ([[NOSE_20], [NOSE_20]], 2),  # 40 min > 30
        ([[Symptom(Site.NOSE, duration_minutes=15)], [Symptom(Site.NOSE, duration_minutes=15)]], 1),  # 30 = 1
        ([[Symptom(Site.NOSE, duration_minutes=15)], [Symptom(Site.NOSE, duration_minutes=16)]], 2),  # 31 = 2
        ([[NOSE_20, NOSE_20]], 2),  # within one report too
        ([[NOSE_20], [Symptom(Site.GUMS_MOUTH, duration_minutes=20)]], 1),  # nose and mouth apart
        ([[Symptom(Site.NOSE)], [Symptom(Site.NOSE)]], 1),  # no minutes given: grade 1
        # the worst site decides; the largest bruise counts
        ([[Symptom(Site.BRUISE, size_cm=1.0)], [Symptom(Site.BRUISE, size_cm=3.0)]], 2),
        ([[Symptom(Site.SKIN_SPOTS)], [Symptom(Site.URINE)]], 2),
        # a check-in only, or nothing gradable: observed, no grade
        ([[]], None),
        ([[], [Symptom(Site.HEAD)]], None),
        ([[], [NOSE_20]], 1),
    ],
)
def test_the_day_grade_adds_minutes_across_reports(reports: list[list[Symptom]], expected: int | None) -> None:
    # when
    day = b.assess_day(day_of(*reports))

    # then
    assert day.who_grade == expected
    assert day.observed is True


def test_a_day_without_reports_is_not_observed() -> None:
    day = b.assess_day([])
    assert (day.observed, day.who_grade, day.red_flags, day.entry_grades) == (False, None, (), ())


def test_two_twenty_minute_nosebleeds_are_grade_1_each_and_grade_2_together() -> None:
    # when
    day = b.assess_day(day_of([NOSE_20], [NOSE_20]))
    before = b.assess_day(day_of([NOSE_20]))

    # then
    assert (day.who_grade, day.entry_grades, day.minutes_by_site) == (2, (1, 1), ((Site.NOSE, 40),))
    assert b.day_alert_due(before, day) is True
    assert b.day_alert_due(day, b.assess_day(day_of([NOSE_20], [NOSE_20], [NOSE_20]))) is False


@pytest.mark.parametrize(
    ("reports", "flagged"),
    [
        ([[Symptom(Site.NOSE, duration_minutes=35)], [Symptom(Site.NOSE, duration_minutes=35)]], True),  # 70 min
        ([[Symptom(Site.NOSE, duration_minutes=30)], [Symptom(Site.NOSE, duration_minutes=30)]], False),  # 60 min
        ([[Symptom(Site.NOSE, duration_minutes=35)], [Symptom(Site.GUMS_MOUTH, duration_minutes=35)]], False),
        ([[Symptom(Site.URINE, duration_minutes=40)], [Symptom(Site.URINE, duration_minutes=40)]], True),
        ([[Symptom(Site.NOSE, duration_minutes=5, stopped=False)], []], True),
    ],
)
def test_red_flag_minutes_are_added_across_the_day(reports: list[list[Symptom]], flagged: bool) -> None:
    # when
    day = b.assess_day(day_of(*reports))

    # then
    assert (RedFlag.PROLONGED_OR_NOT_STOPPING in day.red_flags) is flagged


def test_a_report_carries_the_day_red_flag_it_brought_and_only_that_one() -> None:
    # given: 35 min, then another 35 min (70 in the day), then 5 more
    first = b.assess_day(day_of([Symptom(Site.NOSE, duration_minutes=35)]))
    second = b.assess_day(day_of([Symptom(Site.NOSE, duration_minutes=35)], [Symptom(Site.NOSE, duration_minutes=35)]))
    third = b.assess_day(
        day_of([Symptom(Site.NOSE, duration_minutes=35)], [Symptom(Site.NOSE, duration_minutes=35)], [NOSE_20])
    )

    # then
    assert b.new_red_flags([], first, second) == (RedFlag.PROLONGED_OR_NOT_STOPPING,)
    assert b.new_red_flags([], second, third) == ()
    assert b.new_red_flags([RedFlag.VOMITING_BLOOD], second, third) == (RedFlag.VOMITING_BLOOD,)


day_entries = st.builds(b.DayEntry, symptoms=st.lists(symptoms, max_size=4).map(tuple), signs=signs_st)


@given(st.lists(day_entries, max_size=6), day_entries)
def test_adding_a_report_never_lowers_the_day_grade_nor_removes_a_red_flag(
    day: list[b.DayEntry], extra: b.DayEntry
) -> None:
    # when
    before = b.assess_day(day)
    after = b.assess_day([*day, extra])

    # then
    assert (after.who_grade or 0) >= (before.who_grade or 0)
    assert set(after.red_flags) >= set(before.red_flags)
    assert after.observed


@given(st.lists(day_entries, max_size=6), st.randoms(use_true_random=False))
def test_the_order_of_the_reports_does_not_matter(day: list[b.DayEntry], rnd: random.Random) -> None:
    # given
    shuffled = list(day)
    rnd.shuffle(shuffled)

    # when
    one, other = b.assess_day(day), b.assess_day(shuffled)

    # then
    assert (one.who_grade, one.red_flags, one.minutes_by_site) == (
        other.who_grade,
        other.red_flags,
        other.minutes_by_site,
    )
    assert sorted(one.entry_grades, key=lambda g: g or 0) == sorted(other.entry_grades, key=lambda g: g or 0)


@given(st.lists(day_entries, max_size=6))
def test_the_day_grade_is_at_least_every_reports_own_grade_and_at_most_2(day: list[b.DayEntry]) -> None:
    # when
    assessed = b.assess_day(day)

    # then
    assert all((assessed.who_grade or 0) >= (grade or 0) for grade in assessed.entry_grades)
    assert assessed.entry_grades == tuple(b.day_who_grade(entry.symptoms) for entry in day)
    assert assessed.who_grade in (None, 1, 2)
    for entry in day:
        assert set(assessed.red_flags) >= set(b.red_flags(entry.symptoms, entry.signs))


@pytest.mark.parametrize(
    ("kind", "day", "signs", "expected"),
    [
        (b.BleedingReportKind.NO_BLEEDING, [], NO_SIGNS, []),
        (b.BleedingReportKind.NO_BLEEDING, [NOSE_20], NO_SIGNS, [(("symptoms",), C.NOT_ALLOWED)]),
        (b.BleedingReportKind.NO_BLEEDING, [], NeurologicalSigns(new_confusion=True), [(("kind",), C.NOT_ALLOWED)]),
        (b.BleedingReportKind.SYMPTOMS, [], NO_SIGNS, [(("symptoms",), C.REQUIRED)]),
        (b.BleedingReportKind.SYMPTOMS, [NOSE_20], NO_SIGNS, []),
    ],
)
def test_a_no_bleeding_check_in_has_no_symptoms(
    kind: b.BleedingReportKind, day: list[Symptom], signs: NeurologicalSigns, expected: list[tuple[object, C]]
) -> None:
    assert codes(b.check_kind(kind, day, signs)) == expected
