"""Five questions an analyst asks of the trial, answered against a running server (notebook style:
each cell is a function that queries, prints a table and returns its numbers).

    ptr-trial serve --seed-demo &
    PTR_TOKEN=$(ptr-trial token --role analyst) python clients/examples/analyst_questions.py --out plots/

1. The primary endpoint by site, with the exact 95% CI.
2. Adverse events by CTCAE term and worst grade.
3. Kaplan-Meier median time to B-cell aplasia after CD19 CAR-T (months, 95% CI, numbers at risk).
4. Early CCI before vs after CAR-T per subject, with the Wilcoxon signed-rank result.
5. HLA antibody clearance among the sustained responders.

Writes two plots into --out: analyst-cci-before-after.png (each subject's median early CCI in
the baseline and follow-up periods, joined by a line) and analyst-km-b-cell-aplasia.png (the
Kaplan-Meier curve with its 95% band). The last line printed is `SUMMARY <json>`: the headline
numbers, for scripts and tests. Needs httpx, pandas and matplotlib (`pip install -e '.[analyst]'`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from analyst import ApiError, Client, frame, table  # noqa: E402

pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 20)

CCI_PLOT = "analyst-cci-before-after.png"
KM_PLOT = "analyst-km-b-cell-aplasia.png"


def heading(text: str) -> None:
    print(f"\n## {text}\n")


# --- 1. primary endpoint by site ---------------------------------------------------------------------

ENDPOINT_BY_SITE = """
{ trial { primaryEndpointBySite(population: INFUSED) {
    site { code }
    endpoint { subjects responders proportion ciLower ciUpper parameterVersion }
} } }"""


def primary_endpoint_by_site(client: Client) -> pd.DataFrame:
    heading("1. Sustained platelet response (primary endpoint) by site, infused subjects, exact 95% CI")
    rows = table(client, ENDPOINT_BY_SITE, "trial.primaryEndpointBySite")
    rows.columns = [c.removeprefix("endpoint.").removeprefix("site.") for c in rows.columns]
    print(rows[["code", "subjects", "responders", "proportion", "ciLower", "ciUpper"]].to_string(index=False))
    return rows


# --- 2. adverse events by term and worst grade ---------------------------------------------------------

AE_SUMMARY = "{ adverseEventSummary { term soc events subjects subjectsByWorstGrade seriousEvents } }"


def adverse_events_by_term(client: Client) -> pd.DataFrame:
    heading("2. Adverse events by CTCAE term: subjects by worst grade (confirmed and pending review)")
    rows = table(client, AE_SUMMARY, "adverseEventSummary")
    grades = pd.DataFrame(rows.pop("subjectsByWorstGrade").tolist(), columns=[f"G{g}" for g in range(1, 6)])
    rows = pd.concat([rows, grades], axis=1)
    print(rows.drop(columns=["soc"]).to_string(index=False))
    return rows


# --- 3. time to B-cell aplasia -----------------------------------------------------------------------------

TIME_TO_APLASIA = """
{ trial { timeToEvent(event: B_CELL_APLASIA) {
    subjects events censored medianMonths medianCiLowerMonths medianCiUpperMonths
    atRisk { month subjects } curve { timeMonths survival ciLower ciUpper atRisk }
    analysed censoring parameterVersion
} } }"""


def time_to_b_cell_aplasia(client: Client, out: Path) -> dict[str, Any]:
    heading("3. Time from CD19 CAR-T to B-cell aplasia (Kaplan-Meier, months = days / 30.4375)")
    km = client.execute(TIME_TO_APLASIA)["trial"]["timeToEvent"]
    print(f"analysed: {km['analysed']}; {km['censoring']}")
    print(f"subjects {km['subjects']}, events {km['events']}, censored {km['censored']}")
    print(
        f"median {fmt(km['medianMonths'])} months "
        f"(95% CI {fmt(km['medianCiLowerMonths'])} to {fmt(km['medianCiUpperMonths'])})"
    )
    print(pd.DataFrame(km["atRisk"]).rename(columns={"subjects": "at risk"}).to_string(index=False))
    curve = pd.DataFrame(km["curve"])
    # the curve starts at S = 1 at time 0; each step holds until the next
    times = [0.0, *curve["timeMonths"]] if len(curve) else [0.0]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.step(times, [1.0, *curve["survival"]] if len(curve) else [1.0], where="post", label="Kaplan-Meier")
    ax.fill_between(
        times,
        [1.0, *curve["ciLower"]] if len(curve) else [1.0],
        [1.0, *curve["ciUpper"]] if len(curve) else [1.0],
        step="post",
        alpha=0.25,
        label="95% CI (log-log)",
    )
    ax.set(xlabel="months after CD19 CAR-T", ylabel="without B-cell aplasia", ylim=(0, 1.05), xlim=(0, None))
    ax.set_title(f"Time to B-cell aplasia (n = {km['subjects']}, events = {km['events']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / KM_PLOT)
    plt.close(fig)
    return km


# --- 4. CCI before vs after ------------------------------------------------------------------------------

CCI_COMPARISON = """
{ trial { beforeAfterComparison(measure: MEDIAN_CCI_EARLY) {
    unit periods subjects pairs medianBaseline medianFollowUp medianDifference hodgesLehmann
    wilcoxonStatistic pValue zeroDifferencesDropped zeroHandling parameterVersion
    values { subjectCode baseline followUp difference }
} } }"""


def cci_before_after(client: Client, out: Path) -> dict[str, Any]:
    heading("4. Median early CCI per subject, baseline vs follow-up (per uL), Wilcoxon signed-rank")
    result = client.execute(CCI_COMPARISON)["trial"]["beforeAfterComparison"]
    values = pd.DataFrame(result["values"])
    print(f"periods: {result['periods']}")
    print(values.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    print(
        f"pairs {result['pairs']} of {result['subjects']} subjects; median baseline {fmt(result['medianBaseline'], 0)}, "
        f"median follow-up {fmt(result['medianFollowUp'], 0)}, median difference {fmt(result['medianDifference'], 0)}, "
        f"Hodges-Lehmann {fmt(result['hodgesLehmann'], 0)} {result['unit']}"
    )
    print(f"Wilcoxon W = {fmt(result['wilcoxonStatistic'], 1)}, exact two-sided p = {fmt(result['pValue'], 4)}")
    print(result["zeroHandling"])
    paired = values.dropna(subset=["difference"])
    fig, ax = plt.subplots(figsize=(5.0, 4.2), dpi=110)
    for row in paired.itertuples():
        ax.plot([0, 1], [row.baseline, row.followUp], marker="o", color="tab:blue", alpha=0.7)
    ax.axhline(7500, color="grey", linestyle="--", linewidth=1, label="early CCI threshold 7,500/uL")
    ax.set_xticks([0, 1], ["baseline\n(days -30..-1)", "follow-up\n(days 29..365)"])
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel("median early CCI (per uL)")
    ax.set_title(f"Early CCI before vs after CAR-T (n = {result['pairs']}, p = {fmt(result['pValue'], 4)})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / CCI_PLOT)
    plt.close(fig)
    return result


# --- 5. HLA clearance among responders -----------------------------------------------------------------

RESPONDERS = """
query($first: Int!, $after: String) {
  subjects(first: $first, after: $after, sustainedResponse: true) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      code site { code } firstInfusionAt
      plateletResponse { sustained firstResponseAt }
      hlaClearance { baselinePositive clearedAt summedMfiReductionPercent }
    } }
  }
}"""


def hla_clearance_among_responders(client: Client) -> dict[str, Any]:
    heading("5. HLA antibody clearance among sustained responders")
    responders = frame(client, RESPONDERS, "subjects", page_size=5)
    positive = responders[
        responders["hlaClearance.baselinePositive"].map(lambda v: isinstance(v, list) and len(v) > 0)
    ].copy()
    positive["cleared"] = positive["hlaClearance.clearedAt"].notna()
    columns = ["code", "site.code", "hlaClearance.baselinePositive", "hlaClearance.clearedAt"]
    print(positive[[*columns, "hlaClearance.summedMfiReductionPercent"]].to_string(index=False))
    cleared, assessed = int(positive["cleared"].sum()), len(positive)
    print(
        f"{cleared} of {assessed} responders with HLA antibodies at baseline cleared them ({len(responders)} responders)"
    )
    return {"responders": len(responders), "assessed": assessed, "cleared": cleared}


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Answer five analysis questions against a running server.")
    parser.add_argument("--out", type=Path, default=Path("analyst-output"), help="folder for the PNG plots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        client = Client.from_env()
    except ApiError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        with client:
            endpoint = primary_endpoint_by_site(client)
            safety = adverse_events_by_term(client)
            km = time_to_b_cell_aplasia(client, args.out)
            cci = cci_before_after(client, args.out)
            hla = hla_clearance_among_responders(client)
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = {
        "endpointBySite": {
            row["code"]: [int(row["responders"]), int(row["subjects"])] for row in endpoint.to_dict("records")
        },
        "aeTerms": len(safety),
        "aeEvents": int(safety["events"].sum()) if len(safety) else 0,
        "kmMedianMonths": km["medianMonths"],
        "kmMedianCi": [km["medianCiLowerMonths"], km["medianCiUpperMonths"]],
        "kmSubjects": km["subjects"],
        "cciPairs": cci["pairs"],
        "cciMedianDifference": cci["medianDifference"],
        "cciPValue": cci["pValue"],
        "hla": hla,
        "plots": [str(args.out / CCI_PLOT), str(args.out / KM_PLOT)],
    }
    print(f"\nSUMMARY {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
