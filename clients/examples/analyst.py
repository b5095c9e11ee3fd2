"""A small analyst client for the PTR Trial GraphQL API.

As a library (see analyst_questions.py for a full analysis):

    from analyst import Client, frame, table

    with Client.from_env() as client:                       # PTR_TOKEN, PTR_API_URL
        subjects = frame(client, SUBJECTS_PAGE, "subjects")   # every page, one row per subject
        safety = table(client, "{ adverseEventSummary { term events } }", "adverseEventSummary")

`frame(client, query, path)` pages any Relay connection (a query with `$first: Int` and
`$after: String` whose connection sits at the dot-separated `path`, e.g. "subjects") into a pandas
DataFrame with one row per node; nested objects become dotted columns ("site.code",
"plateletResponse.sustained"); lists stay Python lists in their cell. `table(client, query,
path)` turns a plain list at `path` (e.g. "trial.beforeAfterComparison.values") into a DataFrame.

As a command, it lists the subjects with their site, status and platelet transfusions:

    PTR_TOKEN=$(ptr-trial token --role analyst) python clients/examples/analyst.py --page-size 5

Environment:
    PTR_TOKEN    bearer token (required); analysts see every site, pseudonymised, without free text
    PTR_API_URL  GraphQL endpoint (default http://127.0.0.1:8000/graphql)

Needs httpx; `frame` and `table` need pandas (`pip install -e '.[analyst]'` installs httpx,
pandas and matplotlib). Exits 0 on success, 1 when the API answers with errors, 2 when PTR_TOKEN
is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import pandas

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
    """The API refused the request (401) or answered with GraphQL errors."""


class Client:
    """A GraphQL client with the bearer token set once; use it as a context manager."""

    def __init__(self, url: str, token: str, timeout: float = 60, *, persisted_queries: bool = False) -> None:
        self.url = url
        self.persisted_queries = persisted_queries
        self._http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    @classmethod
    def from_env(cls) -> Client:
        """PTR_TOKEN (required), PTR_API_URL (default http://127.0.0.1:8000/graphql) and
        PTR_PERSISTED_QUERIES=1 to send documents by hash (Apollo's automatic persisted queries)."""
        token = os.environ.get("PTR_TOKEN")
        if not token:
            raise ApiError("set PTR_TOKEN, e.g. PTR_TOKEN=$(ptr-trial token --role analyst)")
        persisted = os.environ.get("PTR_PERSISTED_QUERIES") == "1"
        return cls(os.environ.get("PTR_API_URL", DEFAULT_URL), token, persisted_queries=persisted)

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The operation's `data`; ApiError on 401 or on any GraphQL error."""
        request: dict[str, Any] = {"query": query, "variables": variables or {}}
        if self.persisted_queries:
            # Apollo's automatic persisted queries: the document's SHA-256 alone first; the text
            # only when the server does not know it yet (then it remembers it).
            digest = hashlib.sha256(query.encode()).hexdigest()
            request["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
            body = self._post({"variables": request["variables"], "extensions": request["extensions"]})
            codes = [error.get("extensions", {}).get("code") for error in body.get("errors", [])]
            if codes != ["PERSISTED_QUERY_NOT_FOUND"]:
                return self._data(body)
        return self._data(self._post(request))

    def _post(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(self.url, json=request)
        if response.status_code == 401:
            raise ApiError("401 Unauthorized: PTR_TOKEN is missing, invalid or expired")
        if response.status_code == 400 and response.headers.get("content-type", "").startswith("application/json"):
            raise ApiError("; ".join(e.get("message", "?") for e in response.json().get("errors", [])))
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    @staticmethod
    def _data(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("errors"):
            raise ApiError("; ".join(error.get("message", "?") for error in body["errors"]))
        data: dict[str, Any] = body["data"]
        return data

    def nodes(
        self, query: str, path: str, variables: dict[str, Any] | None = None, page_size: int = 50
    ) -> Iterator[dict[str, Any]]:
        """Every node of the connection at `path`, following pageInfo.endCursor while
        pageInfo.hasNextPage (the query must select both, and take $first and $after)."""
        after: str | None = None
        while True:
            connection = at_path(self.execute(query, {**(variables or {}), "first": page_size, "after": after}), path)
            for edge in connection["edges"]:
                yield edge["node"]
            if not connection["pageInfo"]["hasNextPage"]:
                return
            after = connection["pageInfo"]["endCursor"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def at_path(data: Any, path: str) -> Any:
    """data["a"]["b"] for path "a.b"."""
    for key in path.split("."):
        data = data[key]
    return data


def frame(
    client: Client, query: str, path: str, variables: dict[str, Any] | None = None, page_size: int = 50
) -> pandas.DataFrame:
    """Every page of the connection at `path` as a DataFrame: one row per node, nested objects
    flattened into dotted columns (json_normalize), lists kept as cells."""
    import pandas

    return pandas.json_normalize(list(client.nodes(query, path, variables, page_size)))


def table(client: Client, query: str, path: str, variables: dict[str, Any] | None = None) -> pandas.DataFrame:
    """The plain list at `path` of one answer as a DataFrame (nested objects flattened)."""
    import pandas

    return pandas.json_normalize(at_path(client.execute(query, variables), path))


def study_days(subject: dict[str, Any]) -> str:
    """Study day 0 is the first CAR-T infusion; before any infusion the day is unknown ('?')."""
    days = ["?" if t["studyDay"] is None else str(t["studyDay"]) for t in subject["transfusions"]]
    return ", ".join(days) if days else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="List the subjects with their site, status and transfusions.")
    parser.add_argument("--page-size", type=int, default=20, help="subjects per request (default 20)")
    args = parser.parse_args(argv)
    try:
        client = Client.from_env()
    except ApiError as error:
        print(error, file=sys.stderr)
        return 2
    count = 0
    print(f"{'subject':<20} {'site':<6} {'status':<14} {'transfusions':>12}  study days")
    try:
        with client:
            for subject in client.nodes(SUBJECTS_PAGE, "subjects", page_size=args.page_size):
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
