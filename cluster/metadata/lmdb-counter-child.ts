/**
 * Child process for the multi-process test in `lmdb-store.test.ts`:
 * `bun lmdb-counter-child.ts <path> <increments>` opens the LMDB environment at
 * `path` and increments the u32 at key "counter" by read-modify-write
 * transactions (not atomic adds), so lost updates would show in the total.
 */
import { openLmdbStore } from "./lmdb-store.ts";

const [path, incrementsText] = process.argv.slice(2);
if (path === undefined || incrementsText === undefined) throw new Error("usage: lmdb-counter-child.ts <path> <increments>");
const increments = Number(incrementsText);
const store = await openLmdbStore({ path });
const key = new TextEncoder().encode("counter");
let attempts = 0;
for (let index = 0; index < increments; index++) {
  await store.transact(
    async (tx) => {
      attempts++;
      const stored = await tx.get(key);
      const next = Buffer.alloc(4);
      next.writeUInt32LE((stored === undefined ? 0 : Buffer.from(stored).readUInt32LE(0)) + 1);
      tx.set(key, next);
    },
    // Two processes racing flat out: bounded, but generous.
    { attemptsMax: 10_000 },
  );
}
await store.close();
console.log(`done ${increments} increments in ${attempts} attempts`);
