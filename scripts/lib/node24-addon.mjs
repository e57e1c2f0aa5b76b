// The former name of scripts/lib/node-addon.mjs (which picks the addon build of the
// running Node major, 24 included): kept so that existing command lines still work.
import "./node-addon.mjs";
