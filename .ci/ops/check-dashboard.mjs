#!/usr/bin/env node
// Type-checks Grafana dashboards against Grafana's own @grafana/schema types (see
// dashboard-types.ts): each dashboard becomes a TypeScript literal that must satisfy
// StrictDashboard under `tsc --noEmit --strict`.
//   node .ci/ops/check-dashboard.mjs dashboards/chatapp-overview.json [...]
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { typeCheck } from './tsc-check.mjs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: check-dashboard.mjs DASHBOARD.json...');
  process.exit(2);
}
const docs = files.map((f) => ({
  file: basename(f, '.json').replace(/[^A-Za-z0-9_]/g, '_'),
  source: f,
  imports: "import type { StrictDashboard } from '../../dashboard-types';",
  type: 'StrictDashboard',
  value: JSON.parse(readFileSync(resolve(f), 'utf8')),
}));
if (!typeCheck('dashboard', docs)) {
  console.error('dashboard type check FAILED (generated files are in .ci/ops/build/dashboard/)');
  process.exit(1);
}
console.log(`dashboard type check OK: ${files.join(' ')}`);
