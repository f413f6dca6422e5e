import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { pipelineJsonSchema } from './pipeline-schema.js';

it('the published JSON Schema (schema/sluice.schema.json) is the one the core validates with', () => {
  const published = JSON.parse(readFileSync(new URL('../../../schema/sluice.schema.json', import.meta.url), 'utf8'));
  assert.deepEqual(published, pipelineJsonSchema(), 'run `npm run schema` and commit the result');
  const stage = (
    published as {
      properties: {
        stages: { additionalProperties: { additionalProperties: boolean; properties: Record<string, unknown> } };
      };
    }
  ).properties.stages.additionalProperties;
  assert.equal(stage.additionalProperties, false, 'unknown keys are errors in editors too');
  assert.ok(stage.properties.after && stage.properties.verify && stage.properties.bake);
});
