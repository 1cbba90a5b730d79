#!/usr/bin/env node
// Type-checks Grafana dashboards against @grafana/schema (see dashboard-types.ts).
//   node .ci/ops/check-dashboard.mjs dashboards/chatapp-overview.json [...]
// Writes .ci/ops/build/<name>.check.ts embedding each dashboard as a literal that must satisfy
// StrictDashboard, then runs `tsc --noEmit --strict -p .ci/ops/tsconfig.json`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const build = join(here, 'build');
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: check-dashboard.mjs DASHBOARD.json...');
  process.exit(2);
}
rmSync(build, { recursive: true, force: true });
mkdirSync(build, { recursive: true });
for (const file of files) {
  const json = JSON.parse(readFileSync(resolve(file), 'utf8'));
  const name = basename(file, '.json').replace(/[^A-Za-z0-9_]/g, '_');
  writeFileSync(
    join(build, `${name}.check.ts`),
    `// Generated from ${file} by check-dashboard.mjs\n` +
      `import type { StrictDashboard } from '../dashboard-types';\n` +
      `export const dashboard = ${JSON.stringify(json, null, 2)} satisfies StrictDashboard;\n`,
  );
}
try {
  execFileSync(join(here, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', join(here, 'tsconfig.json')], {
    stdio: 'inherit',
  });
} catch {
  console.error('dashboard type check failed (paths above are in .ci/ops/build/)');
  process.exit(1);
}
console.log(`dashboard type check OK: ${files.join(' ')}`);
