/**
 * The three AdmissionReviews the benchmarks send, generated in code so their sizes are
 * exact and documented: small (one container), typical (three containers and one init
 * container, about 4 KB, what a Deployment's pod looks like on the wire) and large (about
 * 64 KB: 30 containers and big managedFields, the shape that once took Istio 22 s).
 * Deterministic: no clock, no randomness, so every run sends the same bytes.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export const SIZES = ['small', 'typical', 'large'] as const;
export type Size = (typeof SIZES)[number];

/** The namespace of every review: not excluded by the default config, so every pod is injected. */
export const NAMESPACE = 'shop';

export interface Review {
  apiVersion: string;
  kind: string;
  request: {
    uid: string;
    kind: { group: string; version: string; kind: string };
    resource: { group: string; version: string; resource: string };
    namespace: string;
    operation: string;
    userInfo: { username: string; uid: string; groups: string[] };
    object: V1Pod;
    dryRun: boolean;
  };
}

/** A container as the API server sends it (defaults filled in); `lean` leaves out probes and security context. */
function container(name: string, i: number, extraEnv: number, lean = false): V1Container {
  const c: V1Container = {
    name,
    image: `registry.example.com/shop/${name}:2.${i}.0`,
    imagePullPolicy: 'IfNotPresent',
    args: ['--listen=:8080', `--instance=${name}`, '--log-format=json'],
    ports: [
      { name: `http-${i}`, containerPort: 8080 + i, protocol: 'TCP' },
      { name: `grpc-${i}`, containerPort: 9090 + i, protocol: 'TCP' },
    ],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      ...Array.from({ length: extraEnv }, (_, k) => ({ name: `FEATURE_FLAG_${k}`, value: `enabled-${k}` })),
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    readinessProbe: { httpGet: { path: '/ready', port: 8080 + i, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    volumeMounts: [
      { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
      { name: 'config', readOnly: true, mountPath: '/etc/shop' },
    ],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 1000 + i },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
  if (lean) {
    delete c.readinessProbe;
    delete c.securityContext;
    delete c.args;
    c.env = c.env?.slice(0, 2) ?? [];
    c.ports = c.ports?.slice(0, 1) ?? [];
    c.volumeMounts = c.volumeMounts?.slice(0, 1) ?? [];
  }
  return c;
}

/** A managedFields entry as the API server writes it for one container (fieldsV1 is a set of paths). */
function managedEntry(manager: string, names: readonly string[]): NonNullable<NonNullable<V1Pod['metadata']>['managedFields']>[number] {
  const containers: Record<string, unknown> = {};
  for (const n of names) {
    containers[`k:{"name":"${n}"}`] = {
      '.': {},
      'f:args': {},
      'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} }, 'k:{"name":"POD_NAME"}': { '.': {}, 'f:name': {}, 'f:valueFrom': { '.': {}, 'f:fieldRef': {} } } },
      'f:image': {},
      'f:imagePullPolicy': {},
      'f:name': {},
      'f:ports': { '.': {}, 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {}, 'f:protocol': {} } },
      'f:readinessProbe': { '.': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} }, 'f:periodSeconds': {} },
      'f:resources': { '.': {}, 'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} }, 'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} } },
      'f:securityContext': { '.': {}, 'f:allowPrivilegeEscalation': {}, 'f:readOnlyRootFilesystem': {}, 'f:runAsNonRoot': {}, 'f:runAsUser': {} },
      'f:volumeMounts': { '.': {}, 'k:{"mountPath":"/etc/shop"}': { '.': {}, 'f:mountPath': {}, 'f:name': {}, 'f:readOnly': {} } },
    };
  }
  return {
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    time: new Date('2025-01-01T00:00:00Z'),
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': containers } },
  };
}

function pod(containers: V1Container[], initContainers: V1Container[], managedFields: ReturnType<typeof managedEntry>[]): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-7d9f8b6c5-',
      namespace: NAMESPACE,
      labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5', 'app.kubernetes.io/part-of': 'shop' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8b6c5', uid: '0c9a8a57-7f3e-4b0e-9a59-0e6b8e2f1d22', controller: true, blockOwnerDeletion: true },
      ],
      ...(managedFields.length > 0 ? { managedFields } : {}),
    },
    spec: {
      ...(initContainers.length > 0 ? { initContainers } : {}),
      containers,
      volumes: [
        { name: 'config', configMap: { name: 'shop-config', defaultMode: 420 } },
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            ],
          },
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      securityContext: { fsGroup: 2000 },
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    },
  };
}

function review(object: V1Pod): Review {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: NAMESPACE,
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        uid: '2a3f5c39-97a4-4f4c-8f3b-5c7b2f1f3f11',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object,
      dryRun: false,
    },
  };
}

// Target sizes of the serialised review; the generator pads managedFields up to LARGE_BYTES.
const LARGE_BYTES = 64 * 1024;

/** A fresh review of the given size (callers may mutate it). */
export function makeReview(size: Size): Review {
  switch (size) {
    case 'small':
      return review(pod([container('web', 0, 0)], [], []));
    case 'typical':
      return review(
        pod([container('web', 0, 0, true), container('worker', 1, 0, true), container('metrics', 2, 0, true)], [container('migrate', 3, 0, true)], []),
      );
    case 'large': {
      const names = Array.from({ length: 30 }, (_, i) => `app-${i}`);
      const containers = names.map((n, i) => container(n, i, 1));
      const managed: ReturnType<typeof managedEntry>[] = [];
      let r = review(pod(containers, [], managed));
      // One entry per field manager, each owning a slice of the containers, until ~64 KB.
      for (let m = 0; JSON.stringify(r).length < LARGE_BYTES - 1500 && m < 100; m++) {
        managed.push(managedEntry(`controller-${m}`, names.slice((m * 3) % 30, ((m * 3) % 30) + 3)));
        r = review(pod(containers, [], managed));
      }
      return r;
    }
  }
}

/** The review as the bytes sent on the wire. */
export function reviewBody(size: Size): string {
  return JSON.stringify(makeReview(size));
}
