// The audit trail read from its newest end backward (last/before), as a Relay pagination fragment:
// usePaginationFragment's loadPrevious follows pageInfo.hasPreviousPage and startCursor.
import { graphql } from "relay-runtime";

export const auditTrailQuery = graphql`
  query AuditTrailQuery($subjectCode: String) {
    ...AuditTrail_query @arguments(subjectCode: $subjectCode)
  }
`;

export const auditTrailFragment = graphql`
  fragment AuditTrail_query on Query
  @refetchable(queryName: "AuditTrailPaginationQuery")
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 20 }
    cursor: { type: "String" }
    subjectCode: { type: "String" }
  ) {
    auditEvents(last: $count, before: $cursor, subjectCode: $subjectCode)
      @connection(key: "AuditTrail_auditEvents", filters: ["subjectCode"]) {
      edges {
        node {
          id
          occurredAt
          action
          entity
          actorId
        }
      }
    }
  }
`;
