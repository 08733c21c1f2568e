import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configFromValue, DEFAULT_CONFIG } from '../../src/config/index.js';
import { buildProxyContainer } from '../../src/inject/containers.js';
import { resolveSettings } from '../../src/inject/settings.js';

const container = (config = DEFAULT_CONFIG, layout: 'native' | 'classic' = 'native') => buildProxyContainer(config, resolveSettings(config, {}), layout);

describe('the injected siding-proxy container', () => {
  it("runs siding proxy from siding's own image, with startup and readiness probes on /healthz/ready", () => {
    const c = container();
    assert.equal(c.image, DEFAULT_CONFIG.init.image);
    assert.deepEqual(c.command, ['siding', 'proxy']);
    assert.deepEqual(c.startupProbe?.httpGet, { path: '/healthz/ready', port: 15021 });
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/healthz/ready', port: 15021 });
  });

  it('runs non-root as 1337, without capabilities or privilege escalation, read-only, with seccomp RuntimeDefault', () => {
    assert.deepEqual(container().securityContext, {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 1337,
      runAsNonRoot: true,
      runAsUser: 1337,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('gets its flags from the config siding init gets its own from, then the config args', () => {
    const config = configFromValue(
      { proxy: { outboundPort: 16001, uid: 4000, gid: 4001, drainSeconds: 9, args: ['--log-level', 'debug'] }, redirect: { redirectDNS: true, dnsPort: 16053 } },
      'test',
    );
    const args = container(config, 'classic').args ?? [];
    const flag = (name: string): string | undefined => args[args.indexOf(name) + 1];
    assert.equal(flag('--outbound-port'), '16001');
    assert.equal(flag('--uid'), '4000');
    assert.equal(flag('--gid'), '4001');
    assert.equal(flag('--drain-seconds'), '9');
    assert.equal(flag('--dns-port'), '16053');
    assert.ok(args.includes('--redirect-dns'));
    assert.ok(!args.includes('--exit-when-idle'), 'classic layout: the app may still be running during the drain');
    assert.deepEqual(args.slice(-2), ['--log-level', 'debug']);
    assert.ok(container(config, 'native').args?.includes('--exit-when-idle'));
    assert.ok(!(container().args ?? []).includes('--redirect-dns'), 'no DNS listener unless DNS is captured');
  });

  it('passes only the config args to another proxy (e.g. Envoy with its own bootstrap)', () => {
    const config = configFromValue({ proxy: { image: 'docker.io/envoyproxy/envoy:v1.34.1', command: ['envoy'], args: ['-c', '/etc/envoy/bootstrap.yaml'] } }, 'test');
    const c = container(config);
    assert.deepEqual(c.command, ['envoy']);
    assert.deepEqual(c.args, ['-c', '/etc/envoy/bootstrap.yaml']);
  });
});
