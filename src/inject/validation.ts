/**
 * CNI mode's init container, `siding-validation`, built instead of `siding-init`: the node's
 * CNI plugin and agent program the pod's redirect, so the pod only checks that it is there,
 * with no capability and no root (it passes Pod Security `restricted`). Pure functions of
 * the config and a pod's settings.
 */
import type { V1Container } from '@kubernetes/client-node';
import type { InjectionConfig, RedirectDefaults } from '../config/index.js';
import { initArgs, resourcesField } from './containers.js';
import type { PodSettings } from './settings.js';
import { VALIDATION_CONTAINER } from './status.js';

// siding-validation runs as a user the redirect captures when the pod captures no inbound
// TCP (as the proxy's own user it could then observe nothing): 65532, the image's default
// non-root user, or the one below it should the proxy use that.
const VALIDATION_FALLBACK_ID = 65532;

/**
 * Who siding-validation runs as: the proxy's UID/GID, whose loopback calls to the pod's
 * own address the redirect sends to the inbound port (what the validation probes), unless
 * the pod captures no inbound TCP.
 */
export function validationIdentity(config: InjectionConfig, redirect: RedirectDefaults): { uid: number; gid: number } {
  const p = config.proxy;
  const inbound = redirect.includeInboundPorts.kind === 'all' || redirect.includeInboundPorts.ports.length > 0;
  if (inbound) return { uid: p.uid, gid: p.gid };
  const pick = (own: number): number => (own === VALIDATION_FALLBACK_ID ? VALIDATION_FALLBACK_ID - 1 : VALIDATION_FALLBACK_ID);
  return { uid: pick(p.uid), gid: pick(p.gid) };
}

/**
 * The redirect flags in CNI mode: `siding init`'s, with DNS capture widened to all DNS when
 * it is on. siding-init reads the pod's /etc/resolv.conf to capture only DNS to its
 * nameservers; the node agent programs the pod before that file exists for it, so in CNI
 * mode all port-53 traffic is captured (the proxy's DNS forwarder answers it the same way).
 */
export function cniArgs(config: InjectionConfig, redirect: RedirectDefaults): string[] {
  const args = initArgs(config, redirect);
  if (redirect.redirectDNS) args.push('--capture-all-dns');
  return args;
}

/**
 * CNI mode's init container: `siding init --run-validation --skip-rule-apply` with the pod's
 * redirect flags. It programs nothing, so it needs no capability and no root. It exits 126
 * when the redirect is missing (the agent's repair looks for that exit code).
 */
export function buildValidationContainer(config: InjectionConfig, settings: PodSettings): V1Container {
  const who = validationIdentity(config, settings.redirect);
  return {
    name: VALIDATION_CONTAINER,
    image: config.init.image,
    imagePullPolicy: config.init.imagePullPolicy,
    command: [...config.init.command],
    args: [...cniArgs(config, settings.redirect), '--run-validation', '--skip-rule-apply'],
    resources: resourcesField(config.init.resources),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: who.gid,
      runAsNonRoot: true,
      runAsUser: who.uid,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}
