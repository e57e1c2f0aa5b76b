/**
 * Where a keyed record goes: the partition Kafka's Java client would pick (murmur2 of the
 * key), so that both Kafka transports, on every runtime, put a key on the same partition.
 *
 * @module
 */

import type { OutRecord } from "../../core/contract.ts";

/**
 * Kafka's murmur2 hash (the Java client's `Utils.murmur2`), as a signed 32-bit integer.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const body = length & ~3;
  for (let i = 0; i < body; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (length & 3) {
    case 3:
      h ^= data[body + 2]! << 16;
    // falls through
    case 2:
      h ^= data[body + 1]! << 8;
    // falls through
    case 1:
      h ^= data[body]!;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's Java client picks for `key` among `partitions`. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/**
 * Groups a batch's record indexes by partition: keyed records by their key's hash, the
 * unkeyed ones all in `sticky`. Groups come in order of first appearance; each keeps the
 * batch's order.
 */
export function groupByPartition(records: ReadonlyArray<OutRecord>, partitions: number, sticky: number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < records.length; i++) {
    const key = records[i]!.key;
    const p = key === null ? sticky % partitions : partitionForKey(key, partitions);
    const group = groups.get(p);
    if (group === undefined) groups.set(p, [i]);
    else group.push(i);
  }
  return groups;
}
