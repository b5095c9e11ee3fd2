// Starts GraphiQL on this service's /graphql (HTTP and graphql-transport-ws), as strawberry's page
// does, but from files the service serves itself (no CDN, no inline script). The token goes in the
// Headers tab: {"Authorization": "Bearer <token>"}.
"use strict";

const endpoint = new URL("/graphql", window.location.href);
const subscriptionUrl = new URL(endpoint);
subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

const fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: subscriptionUrl.href });

function TrialGraphiQL() {
  return React.createElement(GraphiQL, {
    fetcher,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultEditorToolsVisibility: true,
    defaultQuery: "{ viewer { role } }\n",
    defaultHeaders: '{"Authorization": "Bearer "}',
    inputValueDeprecation: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
  });
}

ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(TrialGraphiQL));
