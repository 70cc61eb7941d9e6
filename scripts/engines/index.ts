/**
 * Index the bundled Cranfield and CISI collections into every engine that start.sh started (or the ones
 * named): indices `cranfield` and `cisi`, English analyzer. Usage: tsx scripts/engines/index.ts [engine...]
 */
import { ENGINES, COLLECTIONS, engineUrl, makeClient, loadCollection, indexCollection, type Engine } from './lib.js';

const asked = process.argv.slice(2);
for (const a of asked) {
  if (!(ENGINES as readonly string[]).includes(a)) {
    console.error(`engines/index: unknown engine '${a}' (expected ${ENGINES.join(' or ')})`);
    process.exit(1);
  }
}
const engines = (asked.length ? asked : ENGINES.filter((e) => engineUrl(e))) as Engine[];
if (engines.length === 0) {
  console.error('engines/index: no engine is running; start one with scripts/engines/start.sh opensearch');
  process.exit(1);
}

for (const engine of engines) {
  const url = engineUrl(engine);
  if (!url) {
    console.error(`engines/index: ${engine} is not running (no .cache/engines/${engine}/url)`);
    process.exit(1);
  }
  const client = makeClient(engine, url, 120_000);
  try {
    for (const name of COLLECTIONS) {
      const t0 = performance.now();
      const { docs } = await loadCollection(name);
      const count = await indexCollection(client, name, docs);
      if (count !== docs.length) throw new Error(`${engine}/${name}: indexed ${count} of ${docs.length} documents`);
      console.log(`engines/index: ${engine} ${name}: ${count} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    console.error(`engines/index: ${engine} at ${url}: ${(err as Error).message}`);
    process.exit(1);
  } finally {
    await client.close();
  }
}
