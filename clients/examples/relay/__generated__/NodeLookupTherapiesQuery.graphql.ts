/**
 * @generated SignedSource<<8259d1e2af888d02ce8c983a93bf5a56>>
 * @lightSyntaxTransform
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

import { ConcreteRequest } from 'relay-runtime';
export type NodeLookupTherapiesQuery$variables = {
  last: number;
};
export type NodeLookupTherapiesQuery$data = {
  readonly therapies: {
    readonly nodes: ReadonlyArray<{
      readonly id: string;
    }>;
    readonly pageInfo: {
      readonly hasPreviousPage: boolean;
      readonly startCursor: string | null | undefined;
    };
    readonly totalCount: number;
  };
};
export type NodeLookupTherapiesQuery = {
  response: NodeLookupTherapiesQuery$data;
  variables: NodeLookupTherapiesQuery$variables;
};

const node: ConcreteRequest = (function(){
var v0 = [
  {
    "defaultValue": null,
    "kind": "LocalArgument",
    "name": "last"
  }
],
v1 = [
  {
    "alias": null,
    "args": [
      {
        "kind": "Variable",
        "name": "last",
        "variableName": "last"
      }
    ],
    "concreteType": "TherapyConnection",
    "kind": "LinkedField",
    "name": "therapies",
    "plural": false,
    "selections": [
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "totalCount",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "concreteType": "Therapy",
        "kind": "LinkedField",
        "name": "nodes",
        "plural": true,
        "selections": [
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "id",
            "storageKey": null
          }
        ],
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "concreteType": "PageInfo",
        "kind": "LinkedField",
        "name": "pageInfo",
        "plural": false,
        "selections": [
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "hasPreviousPage",
            "storageKey": null
          },
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "startCursor",
            "storageKey": null
          }
        ],
        "storageKey": null
      }
    ],
    "storageKey": null
  }
];
return {
  "fragment": {
    "argumentDefinitions": (v0/*:: as any*/),
    "kind": "Fragment",
    "metadata": null,
    "name": "NodeLookupTherapiesQuery",
    "selections": (v1/*:: as any*/),
    "type": "Query",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*:: as any*/),
    "kind": "Operation",
    "name": "NodeLookupTherapiesQuery",
    "selections": (v1/*:: as any*/)
  },
  "params": {
    "cacheID": "b923ae301da63c3b4384b3b848fa45c7",
    "id": null,
    "metadata": {},
    "name": "NodeLookupTherapiesQuery",
    "operationKind": "query",
    "text": "query NodeLookupTherapiesQuery(\n  $last: Int!\n) {\n  therapies(last: $last) {\n    totalCount\n    nodes {\n      id\n    }\n    pageInfo {\n      hasPreviousPage\n      startCursor\n    }\n  }\n}\n"
  }
};
})();

(node as any).hash = "569847d96a8b22343e63d3fcfdded03a";

export default node;
