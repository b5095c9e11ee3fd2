#!/usr/bin/env bash
# A first conversation with the PTR Trial API using nothing but curl.
#
# Against the demo (development mode, embedded SQLite, demo sites and subjects):
#   ptr-trial serve --seed-demo                 # in another terminal
#   bash clients/examples/curl.sh
#
# Settings (all optional):
#   PTR_API_URL   GraphQL endpoint             (default http://127.0.0.1:8000/graphql)
#   PTR_TRIAL     the ptr-trial command        (default: ptr-trial on PATH, else .venv/bin/ptr-trial)
#   SITE          site to work at              (default S01)
#   SUBJECT_CODE  code of the subject to enrol (default S01-C<HHMMSS>, new on each run)
set -euo pipefail

API_URL="${PTR_API_URL:-http://127.0.0.1:8000/graphql}"
SITE="${SITE:-S01}"
SUBJECT_CODE="${SUBJECT_CODE:-$SITE-C$(date -u +%H%M%S)}"

if [ -n "${PTR_TRIAL:-}" ]; then
  PTR_TRIAL_CMD="$PTR_TRIAL"
elif command -v ptr-trial >/dev/null 2>&1; then
  PTR_TRIAL_CMD=ptr-trial
else
  PTR_TRIAL_CMD="$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/ptr-trial"
fi

# 1. A development token: an HS256 JWT signed with the development secret. `ptr-trial token`
#    refuses to make one in production, where tokens come from the identity provider.
#    A coordinator works at the sites the token names (repeat --site for several).
TOKEN="$("$PTR_TRIAL_CMD" token --role coordinator --site "$SITE" --sub curl-example 2>/dev/null)"

# Every operation is a POST of {"query": ..., "variables": ...} with the token as a bearer.
# Without the header the API answers 401 before running anything.
graphql() {
  curl --silent --show-error --fail-with-body \
    -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" \
    -H "X-Request-ID: curl-example-$(date -u +%s)" \
    --data-binary @- \
    "$API_URL"
  echo
}

# 2. A first query: who am I, and the first page of the subjects I may see (here: site S01 only).
echo "== query: viewer and subjects"
graphql <<'JSON'
{
  "query": "query FirstLook { viewer { actorId role sites } subjects(first: 5) { totalCount pageInfo { hasNextPage endCursor } edges { node { code status site { code } } } } }"
}
JSON

# 3. A mutation: enrol a subject. The result is a union: SubjectSuccess, or a typed error
#    (InputError lists every field at fault in `problems`; the others carry code, message, field).
#    Ask for `__typename` and a fragment per type you handle. Run the script twice with the same
#    SUBJECT_CODE to see a ConflictError (DUPLICATE); set ageAtConsent to 12 for an InputError.
echo "== mutation: enrollSubject $SUBJECT_CODE at $SITE"
graphql <<JSON
{
  "query": "mutation Enroll(\$input: EnrollSubjectInput!) { enrollSubject(input: \$input) { __typename ... on SubjectSuccess { subject { id code status site { code } } } ... on UserError { code message field } ... on InputError { problems { code message field } } } }",
  "variables": {
    "input": {
      "code": "$SUBJECT_CODE",
      "siteCode": "$SITE",
      "sex": "FEMALE",
      "yearOfBirth": 1984,
      "ageAtConsent": 40,
      "diagnosis": "AML",
      "remissionStatus": "CR1",
      "consentDate": "2024-09-02",
      "aboGroup": "A",
      "rhd": "POSITIVE",
      "status": "ENROLLED"
    }
  }
}
JSON
