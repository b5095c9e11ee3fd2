// Any object by its global id (Query.node), and a connection's `nodes` when no cursor per row is needed.
import { graphql } from "relay-runtime";

export const nodeLookupQuery = graphql`
  query NodeLookupQuery($id: ID!) {
    node(id: $id) {
      id
      ... on Subject {
        code
      }
      ... on Site {
        code
        name
      }
    }
  }
`;

export const nodeLookupTherapiesQuery = graphql`
  query NodeLookupTherapiesQuery($last: Int!) {
    therapies(last: $last) {
      totalCount
      nodes {
        id
      }
      pageInfo {
        hasPreviousPage
        startCursor
      }
    }
  }
`;
