#!/usr/bin/env node
// Validates Prometheus Operator objects (ServiceMonitor, PrometheusRule, PodMonitor) in YAML files
// with @kubernetes-models/prometheus-operator, twice:
//  1. at run time with the models' JSON-schema validators (required fields, enums, patterns such
//     as durations), and
//  2. with `tsc --noEmit --strict` against the models' TypeScript interfaces, which rejects unknown
//     keys (the runtime validators accept them).
//   node .ci/ops/check-crds.mjs deploy/kubernetes/servicemonitor.yaml deploy/kubernetes/prometheusrule.yaml
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import yaml from 'js-yaml';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { typeCheck } from './tsc-check.mjs';

const models = { ServiceMonitor, PrometheusRule, PodMonitor };
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: check-crds.mjs FILE.yaml...');
  process.exit(2);
}
let failed = false;
const docs = [];
for (const file of files) {
  for (const doc of yaml.loadAll(readFileSync(file, 'utf8'))) {
    if (doc == null) continue;
    const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    const Model = models[doc.kind];
    if (doc.apiVersion !== 'monitoring.coreos.com/v1' || !Model) {
      console.error(`${where}: not a monitoring.coreos.com/v1 ServiceMonitor/PrometheusRule/PodMonitor`);
      failed = true;
      continue;
    }
    try {
      new Model(doc).validate();
      console.log(`${where}: schema OK`);
    } catch (e) {
      console.error(`${where}: INVALID\n${e.message ?? e}`);
      failed = true;
    }
    docs.push({
      file: `${basename(file).replace(/\W/g, '_')}_${doc.kind}`,
      source: file,
      imports: `import type { I${doc.kind} } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${doc.kind}';`,
      type: `I${doc.kind}`,
      value: doc,
    });
  }
}
if (docs.length > 0 && !typeCheck('crds', docs)) {
  console.error('unknown or mistyped keys (tsc above; generated files are in .ci/ops/build/crds/)');
  failed = true;
}
if (failed) process.exit(1);
console.log(`prometheus-operator objects OK: ${files.join(' ')}`);
