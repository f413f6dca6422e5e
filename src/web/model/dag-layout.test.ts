import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dagColumns } from './dag-layout.js';

const names = (cols: Array<Array<{ name: string }>>) => cols.map((c) => c.map((n) => n.name));

describe('the board lays stages out by the DAG', () => {
  it('a chain is one stage per column, left to right', () => {
    const cols = dagColumns([
      { name: 'integ', after: [] },
      { name: 'staging', after: ['integ'] },
      { name: 'prod', after: ['staging'] },
    ]);
    assert.deepEqual(names(cols), [['integ'], ['staging'], ['prod']]);
  });

  it('a fan-out shares a column and a fan-in waits for its deepest parent, whatever the file order', () => {
    const cols = dagColumns([
      { name: 'prod', after: ['eu', 'us', 'perf'] },
      { name: 'eu', after: ['staging'] },
      { name: 'staging', after: [] },
      { name: 'us', after: ['staging'] },
      { name: 'perf', after: ['us'] },
      { name: 'docs', after: [] },
    ]);
    assert.deepEqual(names(cols), [['staging', 'docs'], ['eu', 'us'], ['perf'], ['prod']]);
  });

  it('ignores an unknown stage in after, and a cycle does not hang', () => {
    assert.deepEqual(names(dagColumns([{ name: 'a', after: ['ghost'] }, { name: 'b', after: ['a'] }])), [['a'], ['b']]);
    const cyc = dagColumns([{ name: 'a', after: ['b'] }, { name: 'b', after: ['a'] }]);
    assert.equal(cyc.flat().length, 2);
  });
});
