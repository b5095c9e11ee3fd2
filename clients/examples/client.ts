/**
 * A TypeScript client for the PTR Trial API: fetch only, no dependencies.
 *
 * It shows how to handle a mutation's union result with a `__typename` switch that the compiler
 * checks for exhaustiveness: a success type, or one of the typed errors InputError (with
 * `problems`, one per field at fault, each with a field path such as
 * ["postCounts", "0", "valueE9PerL"]), NotFoundError, PermissionDeniedError, ConflictError.
 *
 * Run against the demo (see README.md in this folder):
 *   export PTR_TOKEN=$(ptr-trial token --role coordinator --site S01)
 *   (cd tools/graphql && npm ci)                             # once: the dev tools
 *   tools/graphql/node_modules/.bin/tsc -p clients/examples  # writes /tmp/ptr-client (tsconfig.json)
 *   node /tmp/ptr-client/client.js
 * Node 22.18 and later strip types themselves: `node clients/examples/client.ts` (the file uses no
 * enum, namespace or parameter property and imports types only, so type stripping suffices).
 *
 * Environment: PTR_TOKEN (required), PTR_API_URL (default http://127.0.0.1:8000/graphql),
 * SITE (default S01), SUBJECT_CODE (default: a new code per run).
 */

// ---- Types generated from schema.graphql ----------------------------------------------------
// generated/graphql.ts is written by graphql-codegen from schema.graphql and the two operations
// below (`npm run codegen` in tools/graphql); a check fails when it is stale, so these types follow
// the schema instead of drifting from it. `import type` is erased when compiling or type stripping.

import type {
  EnrollSubjectInput,
  EnrollSubjectMutation,
  EnrollSubjectMutationVariables,
  RecordPlateletTransfusionInput,
  RecordPlateletTransfusionMutation,
  RecordPlateletTransfusionMutationVariables,
} from "./generated/graphql";

export type { EnrollSubjectInput, RecordPlateletTransfusionInput };
export type { ErrorCode, SubjectStatus } from "./generated/graphql";

/** What `enrollSubject` returns: `SubjectSuccess` or one of the errors, told apart by `__typename`. */
export type EnrollSubjectResult = EnrollSubjectMutation["enrollSubject"];
export type PlateletTransfusionResult = RecordPlateletTransfusionMutation["recordPlateletTransfusion"];
/** The typed, expected errors (InputError, NotFoundError, PermissionDeniedError, ConflictError):
 * every member of a result union but its success type. A new error type in the schema lands
 * here and makes `describeError`'s switch fail to compile until it is handled. */
export type UserError =
  | Exclude<EnrollSubjectResult, { __typename: "SubjectSuccess" }>
  | Exclude<PlateletTransfusionResult, { __typename: "PlateletTransfusionSuccess" }>;

// ---- Transport ------------------------------------------------------------------------------

/** Transport-level failures (401, GraphQL `errors`): not the typed, expected errors above. */
export class GraphQLRequestError extends Error {}

export class PtrClient {
  // Plain fields, not parameter properties, so that Node's type stripping can run this file.
  private readonly url: string;
  private readonly token: string;

  constructor(url: string, token: string) {
    this.url = url;
    this.token = token;
  }

  async request<TData, TVariables extends Record<string, unknown>>(query: string, variables: TVariables): Promise<TData> {
    const response = await fetch(this.url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${this.token}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ query, variables }),
    });
    if (response.status === 401) {
      throw new GraphQLRequestError("401 Unauthorized: the token is missing, invalid or expired");
    }
    const body = (await response.json()) as { data?: TData; errors?: { message: string }[] };
    if (body.errors?.length || body.data === undefined) {
      // Unexpected errors are masked by the server; quote the X-Request-ID when reporting one.
      const requestId = response.headers.get("x-request-id");
      const messages = body.errors?.map((e) => e.message).join("; ") ?? `HTTP ${response.status}`;
      throw new GraphQLRequestError(`${messages} (request ${requestId})`);
    }
    return body.data;
  }

  async enrollSubject(input: EnrollSubjectInput): Promise<EnrollSubjectResult> {
    const data = await this.request<EnrollSubjectMutation, EnrollSubjectMutationVariables>(ENROLL_SUBJECT, { input });
    return data.enrollSubject;
  }

  async recordPlateletTransfusion(input: RecordPlateletTransfusionInput): Promise<PlateletTransfusionResult> {
    const data = await this.request<RecordPlateletTransfusionMutation, RecordPlateletTransfusionMutationVariables>(
      RECORD_PLATELET_TRANSFUSION,
      { input },
    );
    return data.recordPlateletTransfusion;
  }
}

// Every union member the client handles gets a fragment; `__typename` drives the switch.
const USER_ERROR_FIELDS = `
  ... on UserError { code message field }
  ... on InputError { problems { code message field } }
`;

const ENROLL_SUBJECT = `
mutation EnrollSubject($input: EnrollSubjectInput!) {
  enrollSubject(input: $input) {
    __typename
    ... on SubjectSuccess { subject { id code status site { code } } }
    ${USER_ERROR_FIELDS}
  }
}`;

const RECORD_PLATELET_TRANSFUSION = `
mutation RecordPlateletTransfusion($input: RecordPlateletTransfusionInput!) {
  recordPlateletTransfusion(input: $input) {
    __typename
    ... on PlateletTransfusionSuccess {
      transfusion { id startedAt endedAt doseE11 studyDay }
      counts { id drawnAt valueE9PerL studyDay }
    }
    ${USER_ERROR_FIELDS}
  }
}`;

// ---- Handling the union ---------------------------------------------------------------------

function assertNever(value: never): never {
  throw new Error(`unhandled result type: ${JSON.stringify(value)}`);
}

/** Form errors keyed by dotted input path ("postCounts.0.valueE9PerL"), ready to show by the fields. */
export function formErrors(error: UserError): Record<string, string> {
  const problems = error.__typename === "InputError" ? error.problems : [error];
  return Object.fromEntries(problems.map((p) => [p.field.join(".") || "(form)", `${p.code}: ${p.message}`]));
}

/** What a user interface would say; the compiler fails if a union member is left out. */
export function describeError(error: UserError): string {
  switch (error.__typename) {
    case "InputError":
      return `please correct: ${Object.entries(formErrors(error))
        .map(([path, message]) => `${path} (${message})`)
        .join(", ")}`;
    case "NotFoundError":
      return `not found: ${error.message} [${error.field.join(".")}]`;
    case "PermissionDeniedError":
      return `not allowed: ${error.message}`;
    case "ConflictError":
      return `conflict (${error.code}): ${error.message}`;
    default:
      return assertNever(error);
  }
}

export function describeEnrollment(result: EnrollSubjectResult): string {
  switch (result.__typename) {
    case "SubjectSuccess":
      return `enrolled ${result.subject.code} at ${result.subject.site.code} (${result.subject.status})`;
    case "InputError":
    case "NotFoundError":
    case "PermissionDeniedError":
    case "ConflictError":
      return describeError(result);
    default:
      return assertNever(result);
  }
}

export function describeTransfusion(result: PlateletTransfusionResult): string {
  switch (result.__typename) {
    case "PlateletTransfusionSuccess": {
      const counts = result.counts.map((c) => `${c.valueE9PerL} x10^9/L at ${c.drawnAt}`).join("; ");
      return `recorded transfusion ${result.transfusion.id} (dose ${result.transfusion.doseE11 ?? "unknown"} x10^11) with counts: ${counts}`;
    }
    case "InputError":
    case "NotFoundError":
    case "PermissionDeniedError":
    case "ConflictError":
      return describeError(result);
    default:
      return assertNever(result);
  }
}

// ---- Demo -----------------------------------------------------------------------------------

type Env = Record<string, string | undefined>;
const nodeProcess = (globalThis as { process?: { env: Env; exitCode?: number } }).process;

function hoursAgo(hours: number): string {
  return new Date(Date.now() - hours * 3_600_000).toISOString();
}

async function main(): Promise<number> {
  const env: Env = nodeProcess?.env ?? {};
  const token = env.PTR_TOKEN;
  if (!token) {
    console.error("set PTR_TOKEN, e.g. export PTR_TOKEN=$(ptr-trial token --role coordinator --site S01)");
    return 2;
  }
  const client = new PtrClient(env.PTR_API_URL ?? "http://127.0.0.1:8000/graphql", token);
  const site = env.SITE ?? "S01";
  const code = env.SUBJECT_CODE ?? `${site}-T${Date.now().toString().slice(-6)}`;

  // 1. Enrol a subject.
  const enrolled = await client.enrollSubject({
    code,
    siteCode: site,
    sex: "MALE",
    yearOfBirth: 1979,
    ageAtConsent: 45,
    diagnosis: "ALL",
    remissionStatus: "CR2",
    consentDate: "2024-10-14",
    aboGroup: "O",
    rhd: "NEGATIVE",
    status: "ENROLLED",
  });
  console.log(describeEnrollment(enrolled));
  if (enrolled.__typename !== "SubjectSuccess") {
    return 1;
  }

  // 2. A transfusion with its pre-count and 1 h / 24 h post-counts, in one transaction.
  const transfusion: RecordPlateletTransfusionInput = {
    subjectCode: enrolled.subject.code,
    startedAt: hoursAgo(50),
    endedAt: hoursAgo(49),
    units: [{ kind: "APHERESIS", contentE11: 3.5 }],
    aboCompatibility: "IDENTICAL",
    preCount: { valueE9PerL: 8, drawnAt: hoursAgo(52) },
    postCounts: [
      { valueE9PerL: 31, drawnAt: hoursAgo(48) },
      { valueE9PerL: 22, drawnAt: hoursAgo(25) },
    ],
  };
  console.log(describeTransfusion(await client.recordPlateletTransfusion(transfusion)));

  // 3. The same form with a count typed per uL by mistake: an InputError whose problem points at
  //    postCounts.0.valueE9PerL (UNIT_SUSPECT); nothing is written.
  const mistaken = { ...transfusion, postCounts: [{ valueE9PerL: 31000, drawnAt: hoursAgo(48) }] };
  const refused = await client.recordPlateletTransfusion(mistaken);
  console.log(describeTransfusion(refused));
  if (refused.__typename === "InputError") {
    console.log("form errors:", JSON.stringify(formErrors(refused)));
  }
  return 0;
}

main().then(
  (code) => {
    if (nodeProcess) nodeProcess.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    if (nodeProcess) nodeProcess.exitCode = 1;
  },
);
