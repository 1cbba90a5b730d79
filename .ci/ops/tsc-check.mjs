// Shared by check-dashboard.mjs and check-crds.mjs: writes TypeScript files that embed JSON/YAML
// documents as literals checked with `satisfies <Type>`, then runs `tsc --noEmit` (strict, see
// tsconfig.json) on them. Excess-property checks on object literals make unknown keys errors.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));

/**
 * @param {string} name      build sub-directory, e.g. "dashboard"
 * @param {Array<{file: string, source: string, imports: string, type: string, value: unknown}>} docs
 * @returns {boolean} true when tsc passed
 */
export function typeCheck(name, docs) {
  const dir = join(here, 'build', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = docs.map((d, i) => {
    const file = join(dir, `${String(i).padStart(2, '0')}_${d.file}.check.ts`);
    writeFileSync(
      file,
      `// Generated from ${d.source} by .ci/ops/${name === 'dashboard' ? 'check-dashboard' : 'check-crds'}.mjs\n` +
        `${d.imports}\n` +
        `export const doc = ${JSON.stringify(d.value, null, 2)} satisfies ${d.type};\n`,
    );
    return file;
  });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', include: files, compilerOptions: { rootDir: here } }, null, 2),
  );
  try {
    execFileSync(join(here, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', join(dir, 'tsconfig.json')], {
      stdio: 'inherit',
    });
    return true;
  } catch {
    return false;
  }
}
