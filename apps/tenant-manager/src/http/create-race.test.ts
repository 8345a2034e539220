import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type Harness, startHarness } from '../../test/harness.js';

let h: Harness;
let raced = false;

beforeAll(async () => {
  h = await startHarness({
    faults: {
      // Once the first project is active but before its create answers, the project is removed and
      // a second one takes its ref (what a delete and a create of the same ref in between leave).
      afterStep: async (step, ref) => {
        if (step !== 'activate' || ref !== 'race-ref' || raced) return;
        raced = true;
        await h.db.query(`UPDATE tm.projects SET status = 'REMOVED' WHERE ref = 'race-ref'`);
        const second = await h.createProject('race-ref');
        expect(second.statusCode).toBe(201);
      },
    },
  });
  await h.registerCluster('create-race', 10);
});
afterAll(() => h?.close());

describe('a create that races a delete and a create of the same ref', () => {
  it('answers the project it created, not the one that took its ref since', async () => {
    const response = await h.createProject('race-ref');
    expect(response.statusCode).toBe(201);
    const { rows } = await h.db.query<{ id: string; status: string }>(
      `SELECT id, status FROM tm.projects WHERE ref = 'race-ref' ORDER BY created_at`,
    );
    expect(rows).toHaveLength(2);
    expect(response.json()).toMatchObject({ id: rows[0]!.id, ref: 'race-ref', status: 'REMOVED' });
    const other = await h.tm.publicApp.inject({ url: '/v1/projects/race-ref', headers: admin });
    expect(other.json().id).toBe(rows[1]!.id);
  });
});
