/**
 * @generated SignedSource<<d81049e48729481223b4602a9ed3bd3d>>
 * @lightSyntaxTransform
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

import { ReaderFragment } from 'relay-runtime';
export type SubjectStatus = "COMPLETED" | "ENROLLED" | "FOLLOW_UP" | "INFUSED" | "LYMPHODEPLETED" | "SCREENING" | "SCREEN_FAILED" | "WITHDRAWN" | "%future added value";
import { FragmentRefs } from "relay-runtime";
export type SubjectRow_subject$data = {
  readonly code: string;
  readonly id: string;
  readonly site: {
    readonly code: string;
  };
  readonly status: SubjectStatus;
  readonly " $fragmentType": "SubjectRow_subject";
};
export type SubjectRow_subject$key = {
  readonly " $data"?: SubjectRow_subject$data;
  readonly " $fragmentSpreads": FragmentRefs<"SubjectRow_subject">;
};

import SubjectRowRefetchQuery_graphql from './SubjectRowRefetchQuery.graphql';

const node: ReaderFragment = (function(){
var v0 = {
  "alias": null,
  "args": null,
  "kind": "ScalarField",
  "name": "code",
  "storageKey": null
};
return {
  "argumentDefinitions": [],
  "kind": "Fragment",
  "metadata": {
    "refetch": {
      "connection": null,
      "fragmentPathInResult": [
        "node"
      ],
      "operation": SubjectRowRefetchQuery_graphql,
      "identifierInfo": {
        "identifierField": "id",
        "identifierQueryVariableName": "id"
      }
    }
  },
  "name": "SubjectRow_subject",
  "selections": [
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "id",
      "storageKey": null
    },
    (v0/*:: as any*/),
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "status",
      "storageKey": null
    },
    {
      "alias": null,
      "args": null,
      "concreteType": "Site",
      "kind": "LinkedField",
      "name": "site",
      "plural": false,
      "selections": [
        (v0/*:: as any*/)
      ],
      "storageKey": null
    }
  ],
  "type": "Subject",
  "abstractKey": null
};
})();

(node as any).hash = "e277b80f727c611e8148f2033f80a27c";

export default node;
