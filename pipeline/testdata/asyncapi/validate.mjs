// Validates an AsyncAPI document with @asyncapi/parser: prints every
// diagnostic to stderr, a summary to stdout, and exits 1 on any error.
// Usage: node validate.mjs FILE
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const severities = ['error', 'warning', 'info', 'hint'];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(process.argv[2], 'utf8'));
for (const d of diagnostics) {
  console.error(`${severities[d.severity]} ${d.code} at ${d.path.join('.')}: ${d.message}`);
}
if (!document || diagnostics.some((d) => d.severity === 0)) {
  process.exit(1);
}
console.log(JSON.stringify({
  version: document.version(),
  channels: document.channels().length,
  messages: document.allMessages().length,
}));
