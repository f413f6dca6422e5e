import { readFileSync, statSync } from 'node:fs';
import { SluiceError } from '../../kernel/errors.js';
import { checkPipelineSize, DEFAULT_PIPELINE_LIMITS, type PipelineFile, type PipelineLimits } from '../../pipeline/ports/pipeline-file.js';

/**
 * The pipeline file on disk, read afresh each time (a release takes the file as it is when it is created). A file
 * over `limits.maxBytes` is refused before it is read, naming its size and the limit.
 */
export function pipelineFileOnDisk(path: string, shownAs = path, limits: Partial<PipelineLimits> = {}): PipelineFile {
  const maxBytes = limits.maxBytes ?? DEFAULT_PIPELINE_LIMITS.maxBytes;
  return {
    path: shownAs,
    limits,
    read() {
      try {
        checkPipelineSize(shownAs, statSync(path).size, maxBytes);
        return readFileSync(path, 'utf8');
      } catch (e) {
        if (e instanceof SluiceError) throw e;
        throw new SluiceError('PIPELINE_INVALID', `cannot read ${shownAs}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (run `sluice init` to create one)' : (e as Error).message}`);
      }
    },
  };
}
