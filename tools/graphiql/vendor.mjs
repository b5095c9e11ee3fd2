// Copies GraphiQL's browser assets (the UMD builds strawberry's page loads from a CDN) from
// node_modules into server/static/graphiql/, with their licences, so the service serves them
// itself and GraphiQL works on a network without internet. Run after `npm ci`: `npm run vendor`.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "..", "server", "static", "graphiql", "vendor");
const files = {
  "react/umd/react.production.min.js": "react.production.min.js",
  "react/LICENSE": "LICENSE.react",
  "react-dom/umd/react-dom.production.min.js": "react-dom.production.min.js",
  "react-dom/LICENSE": "LICENSE.react-dom",
  "graphiql/graphiql.min.js": "graphiql.min.js",
  "graphiql/graphiql.min.css": "graphiql.min.css",
  "graphiql/LICENSE": "LICENSE.graphiql",
  "@graphiql/plugin-explorer/dist/index.umd.js": "plugin-explorer.umd.js",
  "@graphiql/plugin-explorer/dist/style.css": "plugin-explorer.css",
};
mkdirSync(target, { recursive: true });
for (const [from, to] of Object.entries(files)) {
  copyFileSync(join(here, "node_modules", from), join(target, to));
}
// Each package's name, version and licence (all MIT; the explorer plugin ships no LICENSE file).
const notice = ["react", "react-dom", "graphiql", "@graphiql/plugin-explorer"].map((name) => {
  const manifest = JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8"));
  return `${manifest.name} ${manifest.version}: ${manifest.license}`;
});
writeFileSync(join(target, "VERSIONS.txt"), notice.join("\n") + "\n");
console.log(`copied ${Object.keys(files).length} files to ${target}`);
