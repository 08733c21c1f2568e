/**
 * The cluster part's measuring process: bench/cluster.ts runs it in the testenv's
 * control-plane network namespace (`kube-testenv.sh exec`), where the API server listens.
 * Argument: the JSON of ClusterChildSettings; writes the results to its `out` file.
 */
import { writeFileSync } from 'node:fs';
import { measureCluster, type ClusterChildSettings } from './cluster.js';

const s = JSON.parse(process.argv[2] ?? '{}') as ClusterChildSettings;
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const results = await measureCluster({ pods: s.pods, concurrency: s.concurrency, attackPhaseS: s.attackPhaseS, log }, s.kubeconfig);
writeFileSync(s.out, `${JSON.stringify(results, null, 2)}\n`);
