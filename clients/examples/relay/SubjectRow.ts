// One subject row, refetchable by its global id through Query.node (the Node interface).
import { graphql } from "relay-runtime";

export const subjectRowFragment = graphql`
  fragment SubjectRow_subject on Subject @refetchable(queryName: "SubjectRowRefetchQuery") {
    id
    code
    status
    site {
      code
    }
  }
`;
