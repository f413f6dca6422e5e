import { readFileSync } from 'node:fs';
import { SluiceError } from '../../kernel/errors.js';
import type { PipelineFile } from '../../pipeline/ports/pipeline-file.js';

/** The pipeline file on disk, read afresh each time (a release takes the file as it is when it is created). */
export function pipelineFileOnDisk(path: string, shownAs = path): PipelineFile {
  return {
    path: shownAs,
    read() {
      try {
        return readFileSync(path, 'utf8');
      } catch (e) {
        throw new SluiceError('PIPELINE_INVALID', `cannot read ${shownAs}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (run `sluice init` to create one)' : (e as Error).message}`);
      }
    },
  };
}
