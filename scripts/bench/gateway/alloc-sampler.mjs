/**
 * Preloaded (`--import`) into a process the allocation profile measures: the first SIGUSR2 starts
 * V8's sampling heap profiler, counting objects minor and major GCs have already collected (so the
 * profile shows what was allocated, not only what is still alive); the second writes the profile to
 * ALLOC_PROFILE_OUT. Plain JavaScript, so it loads into the shipped bundle as well as under tsx.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env.ALLOC_PROFILE_OUT;
const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: Number(process.env.ALLOC_SAMPLING_INTERVAL ?? 256),
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true,
    });
    return;
  }
  session.post('HeapProfiler.stopSampling', (error, result) => {
    writeFileSync(out, JSON.stringify(error ? { error: error.message } : result.profile));
  });
});
