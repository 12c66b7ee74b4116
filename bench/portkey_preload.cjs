// Loaded into Portkey's gateway (node -r) by the benchmark (bench/peers.py). Portkey 1.15 relays an
// OpenAI-compatible stream as the upstream's own fetch Response, whose headers are immutable, then adds
// its x-portkey-* headers to it: on Node that throws "TypeError: immutable" and every stream fails
// (Portkey-AI/gateway issues #1389 and #1550). This lets those header changes be skipped on such a
// response, as the fix proposed there does, so that streams go through; nothing else is changed.
for (const name of ["append", "delete", "set"]) {
  const original = Headers.prototype[name];
  Headers.prototype[name] = function (...args) {
    try {
      return original.apply(this, args);
    } catch (error) {
      if (error instanceof TypeError && error.message === "immutable") return undefined;
      throw error;
    }
  };
}
