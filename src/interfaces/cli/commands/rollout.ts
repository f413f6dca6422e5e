import { resolve } from 'node:path';
import { type Command, EXIT } from '../command.js';
import { readJudgeFile, renderJudge } from '../judge-command.js';

export const rolloutCommands: Command[] = [
  {
    name: 'judge',
    args: '<file.json>',
    summary: 'judge recorded canary and baseline series offline (exit 0 pass, 1 fail, 4 inconclusive)',
    min: 1,
    max: 1,
    async run(ctx, [file]) {
      const r = readJudgeFile(resolve(ctx.cwd, file!));
      ctx.print(r, renderJudge(ctx.st, r));
      return r.outcome === 'pass' ? EXIT.ok : r.outcome === 'fail' ? EXIT.failed : EXIT.inconclusive;
    },
  },
];
