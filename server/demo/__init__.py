"""The demo trial behind `ptr-trial seed-demo`: realistic data for client teams and analysts.

Scenario design
---------------
Two sites (S01, S02), six subjects each, consented about every two weeks starting about eleven
months before the day the seed runs (the timeline is anchored on the run's UTC date, so every
record lies in the past; given the same anchor date the data is the same, because each subject
draws from its own `random.Random` seeded with a fixed string and its code).

Each subject takes a *course* through the trial, chosen in `COHORT`:

- responder: refractory at baseline, a sustained response from a few weeks after CD19 CAR-T;
- late responder: responds only after the BCMA infusion;
- non-responder: stays refractory after both infusions (one isolated response at most);
- lost response: responds for a while, then the last transfusions fail again;
- withdrawn: CD19 CAR-T, then withdraws before BCMA, still refractory;
- screen failure: baseline transfusions respond, refractoriness is not confirmed, no CAR-T.

An infused subject has consent (day about -65), 2-4 body measurements, lymphodepletion
(fludarabine 30 mg/m2 and cyclophosphamide 500 mg/m2 on days -5..-3), CD19 CAR-T on day 0,
BCMA CAR-T on day 14-28, and 15-25 platelet transfusions from day -60 to several months after
day 0. Each transfusion carries its counts (x10^9/L): a pre-count 1-6 h before the start, an
early count 15-50 min and a late count 18.5-23.5 h after the end. Their values are engineered
with DOMAIN.md's corrected count increment, CCI = (post - pre) x 1000 x BSA / dose_e11, BSA by
Mosteller from the latest measurement, to the transfusion's intended category: responsive
(early CCI > 7500 and late CCI > 5000, with margin), non-responsive (early below 7500, or now and
then a good early but failed late count), or not evaluable through one of the faults in
`Fault`. The intended category is never stored: the response engine must find it from the
records alone.

Each subject also has lab series for the secondary outcomes (see `plan_labs`): blood counts
with B cells, IgG, marrow plasma cells, CAR transgene kinetics of both products and HLA/HPA
antibody panels, engineered per subject in `LAB_PROFILES` (when B cells go, whether they come
back, which HLA antibodies clear). The cytopenias after lymphodepletion propose lab-sourced
adverse events, pending review, as real lab data would.

Everything is written through the services layer by an admin actor "seed-demo", so the demo
has a real audit trail. Each subject is written with all its records in one transaction, and
subjects or sites whose code exists are skipped, so seeding again creates nothing new.
"""

from .seed import SeedReport, plan_subject, seed_demo_trial

__all__ = ["SeedReport", "plan_subject", "seed_demo_trial"]
