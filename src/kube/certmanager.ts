/**
 * Self-managed webhook certificates: keeps the Secret, siding's caBundle and the
 * running server's TLS material in step. Decisions live in rotation.ts (pure); this
 * file only reads, writes and schedules.
 *
 * One pass:
 *   1. GET the Secret. Absent: generate, create. A 409 AlreadyExists means another
 *      replica won the race: re-read and use its material.
 *   2. Patch the caBundle from what was just read (fresh, so a slow replica does not
 *      put back an older bundle for long) and note whether it trusts the current CA.
 *   3. decide(); if a step is due, carry it out and PUT the Secret with the
 *      resourceVersion we read. A 409 Conflict means another replica wrote first:
 *      re-read and decide again (usually: nothing left to do). Then patch the bundle.
 *   4. Hand a changed serving certificate to `onTls`.
 * Passes run one at a time, every `checkIntervalMs` and whenever the Secret changes
 * (watched, so a replica picks up a rotation another replica did within seconds).
 */
import { errorMessage, KubeError } from '../errors/index.js';
import { serviceDnsNames } from '../certs/names.js';
import type { Clock } from './clock.js';
import type { Logger } from '../logger.js';
import { isAlreadyExists, isConflict, type KubeApi, type SecretObject } from './api.js';
import { bundlePem, planBundle } from './cabundle.js';
import { materialFromSecret, secretFromMaterial, type CertMaterial } from './material.js';
import {
  applyDecision,
  decide,
  freshMaterial,
  inspect,
  trustedCas,
  type Facts,
  type Issuer,
  type RotationPolicy,
} from './rotation.js';
import { ObjectWatcher, type Backoff } from './watcher.js';

/** What the HTTPS server needs; `ca` is the PEM bundle the API server trusts. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export interface CertManagerStatus {
  secret: string;
  /** none, or the CA rotation step in progress. */
  rotation: 'none' | 'new-ca-in-bundle' | 'serving-switched';
  caNotAfter: string | undefined;
  servingNotAfter: string | undefined;
  lastCheck: string | undefined;
  lastError: string | undefined;
}

export type CertManagerApi = Pick<
  KubeApi,
  | 'getSecret'
  | 'createSecret'
  | 'replaceSecret'
  | 'getMutatingWebhookConfiguration'
  | 'patchMutatingWebhookConfiguration'
  | 'listOne'
  | 'watchOne'
>;

export interface CertManagerOptions {
  api: CertManagerApi;
  namespace: string;
  secretName: string;
  webhookConfigName: string;
  service: string;
  policy: RotationPolicy;
  issuer: Issuer;
  clock: Clock;
  log: Logger;
  /** Called with new serving material after start(); never for the material start() returns. */
  onTls?: (tls: TlsMaterial) => void;
  /** Watch the Secret between re-checks; default true. */
  watchSecret?: boolean;
  watchBackoff?: Backoff;
}

/**
 * Conflicts and steps per pass. Two replicas produce at most one conflict each per
 * step and a pass takes at most two steps (regenerate or renew, then nothing), so
 * eight only runs out when something keeps rewriting the Secret under us.
 */
const MAX_ATTEMPTS = 8;
/** After a failed pass, retry sooner than the regular interval, but not in a tight loop. */
const RETRY_AFTER_FAILURE_MS = 30_000;

export class CertManager {
  private readonly o: CertManagerOptions;
  private readonly dnsNames: string[];
  private delivered: string | undefined;
  private lastSeenResourceVersion: string | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private cancelTimer: (() => void) | undefined;
  private watcher: ObjectWatcher<'Secret'> | undefined;
  private stopped = false;
  private readonly warnedOnce = new Set<string>();
  private readonly state: CertManagerStatus;

  constructor(options: CertManagerOptions) {
    this.o = options;
    this.dnsNames = serviceDnsNames(options.service, options.namespace);
    this.state = {
      secret: `${options.namespace}/${options.secretName}`,
      rotation: 'none',
      caNotAfter: undefined,
      servingNotAfter: undefined,
      lastCheck: undefined,
      lastError: undefined,
    };
  }

  /**
   * Ensures the Secret and the caBundle and returns the serving material; then keeps
   * them up to date in the background. Throws KubeError/CertError when the first pass
   * fails: a webhook without TLS material cannot start.
   */
  async start(): Promise<TlsMaterial> {
    const material = await this.pass();
    const tls = this.tlsOf(material);
    this.delivered = tls.cert;
    this.scheduleNext(this.o.policy.checkIntervalMs);
    if (this.o.watchSecret !== false) {
      this.watcher = new ObjectWatcher({
        api: this.o.api,
        kind: 'Secret',
        namespace: this.o.namespace,
        name: this.o.secretName,
        clock: this.o.clock,
        log: this.o.log,
        ...(this.o.watchBackoff === undefined ? {} : { backoff: this.o.watchBackoff }),
        onChange: (secret) => {
          if (secret?.resourceVersion !== this.lastSeenResourceVersion) void this.check();
        },
      });
      void this.watcher.start();
    }
    return tls;
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.watcher?.stop();
  }

  /** Resolves when no pass is running (after stop(): when the last write has finished). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  status(): CertManagerStatus {
    return { ...this.state };
  }

  /**
   * Runs a pass now (or right after the one in progress). Resolves when it is done;
   * never rejects: failures are logged and kept in status().lastError.
   */
  check(): Promise<void> {
    if (this.running !== undefined) {
      this.rerun = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.rerun = false;
      if (this.stopped) return;
      this.cancelTimer?.();
      let next = this.o.policy.checkIntervalMs;
      try {
        const material = await this.pass();
        const tls = this.tlsOf(material);
        if (tls.cert !== this.delivered && !this.stopped) {
          this.delivered = tls.cert;
          this.o.log.info({ secret: this.state.secret, servingNotAfter: this.state.servingNotAfter }, 'serving certificate changed; reloading TLS');
          this.o.onTls?.(tls);
        }
      } catch (e) {
        this.state.lastError = errorMessage(e);
        this.o.log.error({ secret: this.state.secret, err: errorMessage(e) }, 'certificate check failed');
        next = Math.min(next, RETRY_AFTER_FAILURE_MS);
      }
      this.scheduleNext(next);
    } while (this.rerun);
  }

  private scheduleNext(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer?.();
    this.cancelTimer = this.o.clock.setTimer(() => {
      this.cancelTimer = undefined;
      void this.check();
    }, ms);
  }

  private tlsOf(m: CertMaterial): TlsMaterial {
    return { cert: m.serving.cert, key: m.serving.key, ca: bundlePem(trustedCas(m, this.o.clock.now())) };
  }

  /** One reconciliation; returns the material now in the Secret. */
  private async pass(): Promise<CertMaterial> {
    const { api, namespace, secretName, issuer, policy, log, clock } = this.o;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const now = clock.now();
      const secret = await api.getSecret(namespace, secretName);
      if (secret === undefined) {
        const material = await freshMaterial(issuer, now);
        let created: SecretObject;
        try {
          created = await api.createSecret(namespace, secretName, secretFromMaterial(material));
        } catch (e) {
          if (isAlreadyExists(e)) {
            log.info({ secret: this.state.secret }, 'another replica created the certificate Secret first; using its material');
            continue;
          }
          throw e;
        }
        log.info({ secret: this.state.secret }, 'created the certificate Secret with a new CA and serving certificate');
        this.observe(created.resourceVersion, material, inspect(material, this.dnsNames));
        await this.syncBundle(material, now);
        return material;
      }

      const read = materialFromSecret(secret);
      const material = read.ok ? read.material : undefined;
      const facts: Facts = read.ok ? inspect(read.material, this.dnsNames) : { readable: false, problem: read.reason };
      this.observe(secret.resourceVersion, material, facts);
      const bundleTrusts = material !== undefined && facts.readable ? await this.syncBundle(material, now) : false;
      const decision = decide(facts, now, policy, bundleTrusts);

      if (decision.action === 'keep' || decision.action === 'wait') {
        if (decision.action === 'wait') log.warn({ secret: this.state.secret, reason: decision.reason }, 'certificate rotation step postponed');
        // keep/wait are only decided for readable material.
        if (material === undefined) throw new Error('unreachable: keep decided for unreadable material');
        return material;
      }

      const next = material === undefined ? await freshMaterial(issuer, now) : await applyDecision(decision, material, issuer, now);
      let written: SecretObject;
      try {
        written = await api.replaceSecret(namespace, secretName, secret.resourceVersion, secretFromMaterial(next, secret));
      } catch (e) {
        if (isConflict(e)) {
          log.info({ secret: this.state.secret, action: decision.action }, 'the certificate Secret changed under us; re-reading');
          continue;
        }
        throw e;
      }
      log.info({ secret: this.state.secret, action: decision.action, reason: decision.reason }, 'updated the certificate Secret');
      this.observe(written.resourceVersion, next, inspect(next, this.dnsNames));
      await this.syncBundle(next, clock.now());
      // Loop: re-read and decide again; normally the answer is keep.
    }
    throw new KubeError(`gave up on Secret ${this.state.secret} after ${MAX_ATTEMPTS} attempts: it keeps changing`);
  }

  private observe(resourceVersion: string, material: CertMaterial | undefined, facts: Facts): void {
    this.lastSeenResourceVersion = resourceVersion;
    this.state.lastCheck = new Date(this.o.clock.now()).toISOString();
    this.state.lastError = undefined;
    if (material === undefined || !facts.readable) return;
    this.state.caNotAfter = new Date(facts.ca.notAfter).toISOString();
    this.state.servingNotAfter = facts.serving.ok ? new Date(facts.serving.window.notAfter).toISOString() : undefined;
    this.state.rotation =
      material.previousCa === undefined
        ? 'none'
        : facts.serving.ok && facts.serving.issuedBy === 'current'
          ? 'serving-switched'
          : 'new-ca-in-bundle';
  }

  /**
   * Makes siding's webhooks trust exactly the CAs of `material`. Returns whether the
   * bundle now trusts the current CA; true as well when there is nothing to keep
   * consistent (no such configuration, or none of its webhooks calls our Service),
   * since then no API server calls us through it. Never throws: a failure is logged
   * and returns false, which holds back the serving-certificate switch.
   */
  private async syncBundle(material: CertMaterial, now: number): Promise<boolean> {
    const { api, webhookConfigName, namespace, service, log } = this.o;
    const cas = trustedCas(material, now);
    // A failed `test` (422) or a conflict means the configuration changed between our
    // GET and PATCH: read it again. Three tries cover any realistic editing race.
    for (let attempt = 1; attempt <= 3; attempt++) {
      let config;
      try {
        config = await api.getMutatingWebhookConfiguration(webhookConfigName);
      } catch (e) {
        log.warn({ webhookConfiguration: webhookConfigName, err: errorMessage(e) }, 'cannot read the webhook configuration');
        return false;
      }
      if (config === undefined) {
        this.warnOnce('missing', { webhookConfiguration: webhookConfigName }, 'webhook configuration not found; caBundle not patched');
        return true;
      }
      const plan = planBundle(config, { namespace, name: service }, cas);
      if (plan.ours.length === 0) {
        this.warnOnce('unused', { webhookConfiguration: webhookConfigName, service: `${namespace}/${service}` }, 'no webhook in the configuration calls our Service; caBundle not patched');
        return true;
      }
      if (plan.ops.length === 0) return true;
      try {
        await api.patchMutatingWebhookConfiguration(webhookConfigName, plan.ops);
        log.info({ webhookConfiguration: webhookConfigName, webhooks: plan.ours.length, cas: cas.length }, 'patched caBundle');
        return true;
      } catch (e) {
        const code = e instanceof KubeError ? e.statusCode : undefined;
        if (code === 422 || code === 409) continue;
        log.warn({ webhookConfiguration: webhookConfigName, err: errorMessage(e) }, 'cannot patch caBundle');
        return false;
      }
    }
    log.warn({ webhookConfiguration: webhookConfigName }, 'caBundle patch kept failing its consistency test');
    return false;
  }

  private warnOnce(key: string, obj: object, msg: string): void {
    if (this.warnedOnce.has(key)) return;
    this.warnedOnce.add(key);
    this.o.log.warn(obj, msg);
  }
}
