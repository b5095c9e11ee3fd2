// GraphQL over HTTP conformance: runs graphql-http's server audit (MUST, SHOULD and MAY) against a
// running server and prints one line per audit and a summary per requirement level.
//
// Usage: GRAPHQL_AUDIT_TOKEN=<bearer token> node tools/graphql/audit.mjs http://127.0.0.1:8000/graphql
// The token goes into every request's Authorization header: the service answers 401 without one.
// Exit status 0 only when every audit passes (run by tests/e2e/test_graphql_over_http.py).
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const token = process.env.GRAPHQL_AUDIT_TOKEN;
if (!url || !token) {
  console.error('usage: GRAPHQL_AUDIT_TOKEN=<bearer token> node audit.mjs <graphql url>');
  process.exit(2);
}

// The audits build their own requests; the header is added to each, keeping theirs.
function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithToken });
const levels = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0] };
for (const result of results) {
  const level = result.name.split(' ')[0];
  levels[level][1] += 1;
  if (result.status === 'ok') {
    levels[level][0] += 1;
    console.log(`ok     ${result.id} ${result.name}`);
  } else {
    let body = '';
    try {
      body = (await result.response.text()).slice(0, 300);
    } catch {
      // the body was already read by the audit: the reason says enough
    }
    console.log(`FAILED ${result.id} ${result.name}\n       ${result.reason}\n       status ${result.response.status}: ${body}`);
  }
}
const passed = results.filter((result) => result.status === 'ok').length;
const summary = Object.entries(levels).map(([level, [ok, all]]) => `${level} ${ok}/${all}`);
console.log(`graphql-http audit: ${passed}/${results.length} passed (${summary.join(', ')})`);
process.exit(passed === results.length ? 0 : 1);
