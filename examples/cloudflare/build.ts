/**
 * Bundles worker.ts into dist/worker.js for workerd with esbuild and shedsink's build
 * options (the Kafka client bundled in, Node's modules left to nodejs_compat).
 *
 *   node examples/cloudflare/build.ts
 */

// In your project: import { workerdBuildOptions } from "shedsink/cloudflare/build";
import * as esbuild from "esbuild";
import { workerdBuildOptions } from "../../src/cloudflare/build.ts";

const here = new URL(".", import.meta.url);

/** Builds the Worker; resolves to the bundle's path. */
export async function build(): Promise<string> {
  const outfile = new URL("dist/worker.js", here).pathname;
  await esbuild.build({ ...workerdBuildOptions(), entryPoints: [new URL("worker.ts", here).pathname], outfile, logLevel: "warning" });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await build());
