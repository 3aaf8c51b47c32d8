// Validates AsyncAPI documents with the official parser (@asyncapi/parser),
// the library `asyncapi validate` runs: the AsyncAPI JSON Schema of the
// document's version, $ref resolution (docs/asyncapi.yaml refers to
// docs/openapi.yaml) and the parser's built-in Spectral rules. It fails on
// any error or warning; information and hints are printed only.
//
// Usage: node validate-asyncapi.mjs FILE...
// (We use the parser rather than @asyncapi/cli 4.1.1, the last CLI that
// installs on Node.js 20: that install is 1,488 packages and 1.5 GB, and the
// CLI reports its use over the network unless told not to; this package,
// the parser with Redocly CLI, is 169 packages and 70 MB.)
import { Parser, fromFile } from '@asyncapi/parser';

const severities = ['error', 'warning', 'information', 'hint'];
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate-asyncapi.mjs FILE...');
  process.exit(2);
}

const parser = new Parser();
let failed = false;
for (const file of files) {
  const { document, diagnostics } = await fromFile(parser, file).parse();
  let bad = 0;
  for (const d of diagnostics) {
    const sev = severities[d.severity] ?? String(d.severity);
    const at = d.range ? `${d.range.start.line + 1}:${d.range.start.character + 1}` : '-';
    const where = d.path && d.path.length ? ` at ${d.path.join('.')}` : '';
    console.log(`${file}:${at} ${sev} ${d.code}: ${d.message}${where}`);
    if (d.severity <= 1) bad++;
  }
  if (!document || bad > 0) {
    failed = true;
    console.log(`${file}: INVALID (${bad} errors or warnings)`);
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}`);
  }
}
process.exit(failed ? 1 : 0);
