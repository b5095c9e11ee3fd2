// PostGraphile 5, the benchmark peer of bench/peer_bench.py: the amber preset over the `public`
// schema. The connection string and port come from the command line (-c, -p).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  grafserv: { graphiql: false },
};

export default preset;
