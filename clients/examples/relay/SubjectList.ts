// A subject list as a Relay app reads it: a pagination fragment on Query (@connection and
// @refetchable, so usePaginationFragment can load more), each row a fragment of its own.
// Compiled (not run) by relay-compiler: `npm run relay` in tools/graphql writes __generated__/.
import { graphql } from "relay-runtime";

export const subjectListQuery = graphql`
  query SubjectListQuery($count: Int!, $cursor: String, $siteCodes: [String!]) {
    ...SubjectList_query @arguments(count: $count, cursor: $cursor, siteCodes: $siteCodes)
  }
`;

export const subjectListFragment = graphql`
  fragment SubjectList_query on Query
  @refetchable(queryName: "SubjectListPaginationQuery")
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 20 }
    cursor: { type: "String" }
    siteCodes: { type: "[String!]" }
  ) {
    subjects(first: $count, after: $cursor, siteCodes: $siteCodes)
      @connection(key: "SubjectList_subjects", filters: ["siteCodes"]) {
      totalCount
      edges {
        node {
          id
          ...SubjectRow_subject
        }
      }
    }
  }
`;
