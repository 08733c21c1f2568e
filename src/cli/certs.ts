import type { Command } from 'commander';
import { InputError } from '../errors/index.js';
import { displayValue, parseWholeNumber, STRICT } from '../grammar/index.js';
import {
  generateCertificateFiles,
  MAX_VALIDITY_DAYS,
  parseNamespaceName,
  parseServiceName,
  parseSubjectAltName,
  type SubjectAltName,
} from '../certs/index.js';

interface GenerateFlags {
  service: string;
  namespace: string;
  outDir: string;
  validityDays: string;
  caValidityDays: string;
  extraSan: string[];
  force: boolean;
}

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description('certificates for the webhook');
  certs
    .command('generate')
    .description(
      'write a new CA (ca.crt) and a serving certificate (tls.crt, tls.key) for the webhook Service; the CA key is not kept',
    )
    .requiredOption('--service <name>', 'webhook Service name')
    .requiredOption('--namespace <ns>', 'namespace of the Service')
    .requiredOption('--out-dir <dir>', 'directory to write into (created with mode 0700 if missing)')
    .option('--validity-days <n>', 'serving certificate validity in days', '365')
    .option('--ca-validity-days <n>', 'CA validity in days (at least --validity-days)', '3650')
    .option('--extra-san <name>', 'additional DNS name or IP address; repeatable or comma-separated', collect, [])
    .option('--force', 'overwrite existing files', false)
    .action(async (flags: GenerateFlags) => {
      const validityDays = parseDays('--validity-days', flags.validityDays);
      const caValidityDays = parseDays('--ca-validity-days', flags.caValidityDays);
      if (validityDays > caValidityDays) {
        throw new InputError(`--validity-days (${validityDays}) must not exceed --ca-validity-days (${caValidityDays})`);
      }
      const extra: SubjectAltName[] = flags.extraSan.flatMap((v) => v.split(',')).map((v) => parseSubjectAltName(v.trim()));
      const result = await generateCertificateFiles({
        service: parseServiceName(flags.service),
        namespace: parseNamespaceName(flags.namespace),
        outDir: flags.outDir,
        validityDays,
        caValidityDays,
        extraSubjectAltNames: extra,
        force: flags.force,
      });
      process.stdout.write(
        [
          `wrote ${result.caCert} (CA, expires ${result.caNotAfter.toISOString()})`,
          `wrote ${result.tlsCert} (expires ${result.notAfter.toISOString()})`,
          `wrote ${result.tlsKey}`,
          `subject alternative names: ${result.subjectAltNames.join(', ')}`,
          '',
        ].join('\n'),
      );
      process.exitCode = 0;
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseDays(flag: string, value: string): number {
  const n = parseWholeNumber(value, { min: 1, max: MAX_VALIDITY_DAYS, unit: 'days' }, STRICT);
  if (!n.ok) throw new InputError(`invalid value '${displayValue(value)}' for ${flag}: ${n.reason}`);
  return n.value;
}
