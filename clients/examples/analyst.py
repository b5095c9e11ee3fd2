"""A small analyst client: pages through `subjects` with cursors and prints, per subject, its site,
status, number of platelet transfusions and the study days of those transfusions.

    PTR_TOKEN=$(ptr-trial token --role analyst) python clients/examples/analyst.py

Environment:
    PTR_TOKEN    bearer token (required); analysts see every site, pseudonymised, without free text
    PTR_API_URL  GraphQL endpoint (default http://127.0.0.1:8000/graphql)

Needs httpx (`pip install httpx`); everything else is the standard library. Exits 0 on success,
1 when the API answers with errors, 2 when PTR_TOKEN is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000/graphql"

# One page of subjects; the transfusions of every subject on the page come in the same request
# (the server batches them, so the cost does not grow with the page size).
SUBJECTS_PAGE = """
query SubjectsPage($first: Int!, $after: String) {
  subjects(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        code
        status
        site { code }
        transfusions { startedAt studyDay }
      }
    }
  }
}
"""


class ApiError(Exception):
    pass


def graphql(client: httpx.Client, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json={"query": query, "variables": variables})
    if response.status_code == 401:
        raise ApiError("401 Unauthorized: PTR_TOKEN is missing, invalid or expired")
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise ApiError("; ".join(error.get("message", "?") for error in body["errors"]))
    return body["data"]


def all_subjects(client: httpx.Client, url: str, page_size: int) -> Iterator[dict[str, Any]]:
    """Follows `pageInfo.endCursor` until `hasNextPage` is false."""
    after: str | None = None
    while True:
        page = graphql(client, url, SUBJECTS_PAGE, {"first": page_size, "after": after})["subjects"]
        for edge in page["edges"]:
            yield edge["node"]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def study_days(subject: dict[str, Any]) -> str:
    """Study day 0 is the first CAR-T infusion; before any infusion the day is unknown ('?')."""
    days = ["?" if t["studyDay"] is None else str(t["studyDay"]) for t in subject["transfusions"]]
    return ", ".join(days) if days else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page-size", type=int, default=20, help="subjects per request (default 20)")
    args = parser.parse_args(argv)

    token = os.environ.get("PTR_TOKEN")
    if not token:
        print("set PTR_TOKEN, e.g. PTR_TOKEN=$(ptr-trial token --role analyst)", file=sys.stderr)
        return 2
    url = os.environ.get("PTR_API_URL", DEFAULT_URL)

    headers = {"Authorization": f"Bearer {token}"}
    count = 0
    print(f"{'subject':<20} {'site':<6} {'status':<14} {'transfusions':>12}  study days")
    try:
        with httpx.Client(headers=headers, timeout=30) as client:
            for subject in all_subjects(client, url, args.page_size):
                count += 1
                print(
                    f"{subject['code']:<20} {subject['site']['code']:<6} {subject['status']:<14} "
                    f"{len(subject['transfusions']):>12}  {study_days(subject)}"
                )
    except (ApiError, httpx.HTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{count} subjects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
