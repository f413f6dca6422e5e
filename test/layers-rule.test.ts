import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { ESLint } from 'eslint';
import { REPO } from './helpers/sluice-process.js';

// The direction of imports is a lint rule (docs/adr/0009): it fails on a deliberately wrong import, and lets right ones be.
it('the layers rule refuses wrong imports and I/O in contexts, and lets the right ones be', async () => {
  const eslint = new ESLint({ cwd: REPO });
  const lint = async (file: string, code: string) => {
    const [r] = await eslint.lintText(code, { filePath: join(REPO, file) });
    return r!.messages.filter((m) => m.ruleId === 'sluice/layers').map((m) => m.message);
  };
  const wrong: [string, string, RegExp][] = [
    ['src/adapters/target-local/x.ts', "import { Router } from '../proxy-http1/router.js';\nexport const x = Router;\n", /an adapter imports no other adapter \("proxy-http1"\)/],
    ['src/adapters/target-local/x.ts', "import { decide } from '../../journeys/journey-decider.js';\nexport const x = decide;\n", /an adapter sees only ports/],
    ['src/journeys/x.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", /context "journeys" does no I\/O itself/],
    ['src/journeys/x.ts', "import { Notifier } from '../notifications/notifier.js';\nexport const x = Notifier;\n", /context "journeys" may use "pipeline", "rollout", "audit", not "notifications"/],
    ['src/rollout/x.ts', "import type { Plan } from '../pipeline/pipeline.js';\nexport type X = Plan;\n", /context "rollout" may use no other context/],
    ['src/kernel/x.ts', "import { decide } from '../journeys/journey-decider.js';\nexport const x = decide;\n", /the kernel imports nothing else/],
    ['src/interfaces/http/x.ts', "import { SqlStore } from '../../adapters/store-sql/sql-store.js';\nexport const x = SqlStore;\n", /interfaces reach adapter "store-sql" only through main/],
    ['src/journeys/x.ts', "import { LocalTarget } from '../adapters/target-local/local-target.js';\nexport const x = LocalTarget;\n", /a context reaches adapter "target-local" only through a port/],
  ];
  for (const [file, code, why] of wrong) {
    const messages = await lint(file, code);
    assert.equal(messages.length, 1, `${file}: ${code}`);
    assert.match(messages[0]!, why);
  }
  const right: [string, string][] = [
    ['src/adapters/target-local/x.ts', "import type { Target } from '../../journeys/ports/target.js';\nimport { tail } from '../../platform/files.js';\nexport type X = Target;\nexport const y = tail;\n"],
    ['src/journeys/x.ts', "import { parsePipeline } from '../pipeline/pipeline.js';\nimport { SluiceError } from '../kernel/errors.js';\nexport const x = [parsePipeline, SluiceError];\n"],
    ['src/main/x.ts', "import { SqlStore } from '../adapters/store-sql/sql-store.js';\nexport const x = SqlStore;\n"],
    ['src/journeys/x.test.ts', "import { SqlStore } from '../adapters/store-sql/sql-store.js';\nexport const x = SqlStore;\n"],
  ];
  for (const [file, code] of right) assert.deepEqual(await lint(file, code), [], file);
});
