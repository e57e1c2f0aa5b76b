// The one name the edge suite's Worker imports from workerd's built-in module.
declare module "cloudflare:workers" {
  export abstract class DurableObject {
    constructor(ctx: unknown, env: unknown);
  }
}
