/**
 * Renders docs/annotations.md from the annotation table, so the doc cannot drift from the
 * parser. scripts/gen-annotations-doc.ts writes it; test/unit/inject-annotations-doc.test.ts
 * fails when the committed file differs.
 */
import { ANNOTATIONS, INJECT_KEY, STATUS_ANNOTATION } from './annotations.js';
import { MAX_REPORTED_PROBLEMS } from '../errors/index.js';
import { MAX_LIST_ITEMS, MAX_VALUE_CHARS } from '../grammar/index.js';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderAnnotationsDoc(): string {
  const lines: string[] = [
    '# Pod annotations',
    '',
    '<!-- Generated from src/inject/annotations.ts by `node --import tsx scripts/gen-annotations-doc.ts`; do not edit. -->',
    '',
    'siding reads these annotations on the pod (for workloads: on the pod template). Each one',
    "overrides the injection config's value for that pod only (docs/config.md). Istio's",
    'spellings are accepted as aliases so manifests migrate unchanged; when both are set,',
    "siding's key wins and the webhook returns a warning.",
    '',
    '| Annotation | Istio alias | Value | Default |',
    '| --- | --- | --- | --- |',
  ];
  for (const s of ANNOTATIONS) {
    const key = s.label ? `\`${s.key}\` (label or annotation)` : `\`${s.key}\``;
    const alias = s.aliases.length === 0 ? '-' : s.aliases.map((a) => `\`${a}\``).join(', ');
    lines.push(`| ${cell(key)} | ${cell(alias)} | ${cell(s.syntax)} | ${cell(s.default)} |`);
  }
  lines.push('');
  for (const s of ANNOTATIONS) {
    lines.push(`## \`${s.key}\``, '', s.description, '');
    if (s.aliases.length > 0) lines.push(`Istio alias: ${s.aliases.map((a) => `\`${a}\``).join(', ')}.`, '');
    lines.push(`Value: ${s.syntax}. Default: ${s.default}.`, '', 'Example:', '', '```yaml', `${s.key}: "${s.example}"`, '```', '');
  }
  lines.push(
    '## Rules for every value',
    '',
    '- Values are strings: in YAML quote them (`"false"`, `"8080"`); an unquoted `false` is an error.',
    '- Lists are comma-separated; spaces around items are allowed, empty items are not.',
    `  A list has at most ${MAX_LIST_ITEMS} items; a value is at most ${MAX_VALUE_CHARS} characters.`,
    '- Ports are decimal 1-65535 without leading zeros; `a-b` ranges only where the table says so.',
    '- CIDRs are IPv4 (`10.0.0.0/8`, four decimal parts) or IPv6 (`fd00::/8`); a bare address',
    '  means /32 or /128; host bits are cleared; IPv4-mapped and IPv4-compatible IPv6 and zone IDs',
    '  are refused.',
    '- Booleans are exactly `true` or `false`.',
    '- Unknown annotations under `siding.io/` and `traffic.siding.io/` are errors (a typo must not',
    '  silently do nothing); Istio annotations siding does not implement are warnings.',
    '',
    `Any invalid value denies the pod, with every problem listed at once (the first ${MAX_REPORTED_PROBLEMS}, then`,
    '`... and N more`; warnings likewise), each as',
    '',
    '```',
    "invalid value 'x' for annotation 'y': reason",
    '```',
    '',
    "Control characters, quotes and non-ASCII characters in 'x' are shown as escapes (`\\n`,",
    "`\\x00`, `\\u0430`), and overlong values are cut, so a value can never forge a line of the message.",
    '',
    `## \`${STATUS_ANNOTATION}\` (written by siding)`,
    '',
    'A JSON record of what siding added: the layout (`native` or `classic`), the container,',
    'volume and annotation names, the proxy image and the siding version. A pod that carries it',
    'is stripped of exactly those and injected again, so injecting an injected pod gives the same',
    'pod and an empty patch. Only names siding itself adds are accepted in the record.',
    'A record that does not match the pod (it leaves a `siding-init`, `siding-proxy` or siding',
    'volume in the pod unlisted, as a forged or hand-edited record would) denies the pod, naming',
    'each container and volume it leaves out, rather than adding them a second time.',
    '',
    `## Label \`${INJECT_KEY}\``,
    '',
    `The webhook's objectSelector skips pods labelled \`${INJECT_KEY}: "false"\` before siding is`,
    'even called; the namespaceSelector requires the namespace label `siding-injection: enabled`.',
    '`siding check` explains both.',
    '',
  );
  return lines.join('\n');
}
