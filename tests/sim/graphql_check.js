// tests/sim/graphql_check.js MODULES CASES.json — check GraphQL documents
// and answers against GitHub's published schema (@octokit/graphql-schema's
// schema.json, the introspection result, pinned in tests/sim/recorded/
// package.json) with graphql-js, the reference implementation.  (Its
// schema.graphql does not build: 15.26.1 defines two fields of
// EnterpriseOwnerInfo twice, which buildSchema refuses.)
//
// CASES.json: [{"name", "query", "variables", "answer"}].  For each case:
//   - the document must parse and pass the schema's validation (fields,
//     arguments, types of variables, fragments on possible types);
//   - an answer with "data" and no "errors" must be exactly what the
//     schema lets that document return: it is executed with the answer's
//     data as the root value (each field read back from it; abstract
//     types resolved by the __typename the document asks for; enums,
//     non-null and list types enforced) and the result must equal it;
//   - an answer with "errors" must give each error a "message" (GitHub
//     adds "type", "path" and "locations").
// Prints one line per case and "N passed, N failed"; exits 1 on a failure.
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.resolve(process.argv[2]);
const graphql = require(path.join(modules, 'graphql'));
const intro = JSON.parse(fs.readFileSync(path.join(modules, '@octokit', 'graphql-schema',
                                                   'schema.json'), 'utf8'));
const schema = graphql.buildClientSchema(intro.data || intro);
const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));

function sameJson(a, b) {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object')
    return a === b;
  if (Array.isArray(a) !== Array.isArray(b))
    return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length)
    return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
}

let passed = 0, failed = 0;
for (const c of cases) {
  const problems = [];
  let doc = null;
  try {
    doc = graphql.parse(c.query);
  } catch (e) {
    problems.push('does not parse: ' + e.message);
  }
  if (doc) {
    for (const e of graphql.validate(schema, doc))
      problems.push('invalid against the schema: ' + e.message);
  }
  const a = c.answer || {};
  if (doc && problems.length === 0 && a.data && !a.errors) {
    const r = graphql.executeSync({ schema, document: doc, rootValue: a.data,
                                    variableValues: c.variables || {} });
    for (const e of r.errors || [])
      problems.push('the answer does not fit the schema: ' + e.message + ' at ' + JSON.stringify(e.path));
    if (!r.errors && !sameJson(JSON.parse(JSON.stringify(r.data)), a.data))
      problems.push('the answer holds what the document did not select: ' + JSON.stringify(a.data).slice(0, 300));
  }
  for (const e of a.errors || [])
    if (typeof e.message !== 'string')
      problems.push('an error without a message: ' + JSON.stringify(e));
  if (problems.length) {
    failed++;
    console.log('FAIL ' + c.name + '\n  ' + problems.join('\n  '));
  } else {
    passed++;
    console.log('ok   ' + c.name);
  }
}
console.log(passed + ' passed, ' + failed + ' failed');
process.exit(failed ? 1 : 0);
