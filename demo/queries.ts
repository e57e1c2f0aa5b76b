// The demo's queries: the templates demo/server.ts serves (and benchmarks/cold-emit.ts
// reuses for records of the same shape), each with its fingerprint.

/** A query the demo's "database" answers. */
export interface QueryTemplate {
  readonly sql: string;
  readonly keyspace: string;
  readonly table: string;
  readonly tabletType: "PRIMARY" | "REPLICA";
  readonly fingerprint: string;
  /** Rows of `table` a query matches: those whose `k % mod === id % mod`. */
  readonly mod: number;
}

/** FNV-1a, 64 bits, as 16 hex digits: the query's fingerprint. */
export function fingerprint(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, "0");
}

export const TEMPLATES: ReadonlyArray<QueryTemplate> = ([
  ["select id, status, total from orders where customer_id = :v1 order by created_at desc limit :v2", "commerce", "orders", "REPLICA", 97],
  ["select * from users where id = :v1", "customer", "users", "REPLICA", 2003],
  ["select name, price from products where category = :v1 and price < :v2", "commerce", "products", "REPLICA", 23],
  ["update payments set state = :v1 where id = :v2", "commerce", "payments", "PRIMARY", 1999],
  ["select count(*) from shipments where region = :v1 and shipped_at > :v2", "logistics", "shipments", "REPLICA", 7],
  ["insert into order_events (order_id, kind, at) values (:v1, :v2, :v3)", "commerce", "order_events", "PRIMARY", 4001],
  ["select o.id, u.email from orders o join users u on o.customer_id = u.id where o.id = :v1", "commerce", "orders", "REPLICA", 1009],
  ["select sum(amount) from payments where customer_id = :v1 and created_at > :v2", "commerce", "payments", "REPLICA", 61],
] as const).map(([sql, keyspace, table, tabletType, mod]) => ({ sql, keyspace, table, tabletType, mod, fingerprint: fingerprint(sql) }));
