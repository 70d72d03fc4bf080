// Validate FHIR R4 resources with FHIR.js (npm "fhir"): reference target types, cardinality, required
// bindings, data types, unknown elements. Reads a JSON array of resources on stdin and writes a JSON array
// (one entry per resource) of {valid, messages: [{location, severity, message}]} on stdout.
'use strict';
const { Fhir } = require('fhir');

const fhir = new Fhir(); // FHIR.js's bundled R4 definitions
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map((resource) => {
    const outcome = fhir.validate(resource, { errorOnUnexpected: true });
    return { valid: outcome.valid, messages: outcome.messages.filter((m) => m.severity === 'error') };
  });
  process.stdout.write(JSON.stringify(results));
});
