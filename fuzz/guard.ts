/**
 * An allocation watch for fuzzing: while installed, every `new Uint8Array(n)`, `new ArrayBuffer(n)`
 * and `new Array(n)` made by the code under test is measured, so an input that makes a decoder
 * allocate in proportion to a length field it read (instead of to the bytes it was given, or to a
 * negotiated limit) is caught even when the allocation succeeds.
 *
 * It replaces the global constructors with proxies that forward everything: `instanceof`,
 * statics (`Uint8Array.from`) and `new` keep working. Code that captured the constructors before
 * (module-level constants) is not measured, which is fine: that runs once, not per input. Views
 * (`new Uint8Array(buffer, offset, length)`) and copies (`slice`) are not allocations proportional
 * to anything but the input. Only for the fuzz runner and its smoke test.
 */
import { LocalProtocolError } from "../src/core/errors.js";

const originals = {
  Uint8Array: globalThis.Uint8Array,
  ArrayBuffer: globalThis.ArrayBuffer,
  Array: globalThis.Array,
};

let largest = 0;
let installed = false;

function watch<T extends object>(ctor: T, bytesPerElement: number): T {
  const note = (args: readonly unknown[]): void => {
    const first = args[0];
    if (args.length === 1 && typeof first === "number" && first * bytesPerElement > largest) largest = first * bytesPerElement;
  };
  return new Proxy(ctor, {
    construct(target, args, newTarget) {
      note(args);
      return Reflect.construct(target as new (...a: unknown[]) => object, args, newTarget);
    },
    apply(target, thisArg, args) {
      note(args);
      return Reflect.apply(target as (...a: unknown[]) => unknown, thisArg, args);
    },
  });
}

const proxies = {
  Uint8Array: watch(originals.Uint8Array, 1),
  ArrayBuffer: watch(originals.ArrayBuffer, 1),
  // An array slot is at least a pointer.
  Array: watch(originals.Array, 8),
};

const g = globalThis as unknown as Record<string, unknown>;

/** Starts measuring; returns a function that stops and gives the largest allocation seen, in bytes. */
export function watchAllocations(): () => number {
  if (installed) throw new LocalProtocolError("fuzz allocation guard: already installed");
  installed = true;
  largest = 0;
  g["Uint8Array"] = proxies.Uint8Array;
  g["ArrayBuffer"] = proxies.ArrayBuffer;
  g["Array"] = proxies.Array;
  return () => {
    g["Uint8Array"] = originals.Uint8Array;
    g["ArrayBuffer"] = originals.ArrayBuffer;
    g["Array"] = originals.Array;
    installed = false;
    return largest;
  };
}
