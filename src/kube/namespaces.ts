/**
 * Namespace labels from the live cluster, for `siding check --live`: the webhook's
 * namespaceSelector decides on these, so reading them from the API server makes the
 * check agree with what the API server will do.
 */
import type { KubeApi } from './api.js';

export interface NamespaceLabels {
  labels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** Namespaces that do not exist (the API server would refuse to create anything there). */
  missing: string[];
}

/** Reads the labels of every namespace in `names`; throws KubeError on any other failure. */
export async function readNamespaceLabels(api: Pick<KubeApi, 'getNamespaceLabels'>, names: readonly string[]): Promise<NamespaceLabels> {
  const labels = new Map<string, Readonly<Record<string, string>>>();
  const missing: string[] = [];
  const found = await Promise.all(names.map(async (n) => [n, await api.getNamespaceLabels(n)] as const));
  for (const [name, l] of found) {
    if (l === undefined) missing.push(name);
    else labels.set(name, l);
  }
  return { labels, missing };
}
