/**
 * Writes docs/annotations.md from the annotation table.
 * Run: node --import tsx scripts/gen-annotations-doc.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderAnnotationsDoc } from '../src/inject/annotations-doc.js';

const target = new URL('../docs/annotations.md', import.meta.url);
writeFileSync(target, renderAnnotationsDoc());
process.stdout.write(`wrote ${fileURLToPath(target)}\n`);
