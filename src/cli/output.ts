/**
 * Where the tool writes. Standard output carries the result (text for a human, or exactly one
 * JSON document with --json, or the raw bytes of `read`/`cp ... -`); standard error carries
 * progress, notes, the -v trace and the one-line error. Every text line passes through the
 * secret mask on its way out.
 */
import { toJson } from "./format.js";
import { maskSecrets } from "./report.js";

export interface Writable {
  write(chunk: string | Uint8Array, callback?: (error?: Error | null) => void): boolean;
  readonly isTTY?: boolean;
}

export class Output {
  private resultWritten = false;
  private readonly secretList: string[] = [];

  constructor(
    readonly stdout: Writable,
    readonly stderr: Writable,
    readonly json: boolean,
    /** -q: errors only (no notes, warnings or progress). */
    readonly quiet = false,
    /** --ndjson: standard output is a stream of JSON lines, which a failure ends with its own line. */
    readonly ndjson = false,
  ) {}

  /** Whether a progress bar may be drawn (never with --json or -q; progress.ts checks the TTY). */
  get progressAllowed(): boolean {
    return !this.json && !this.quiet;
  }

  /** Secrets to mask in anything printed from now on. */
  addSecrets(secrets: readonly string[]): void {
    for (const s of secrets) if (s !== "" && !this.secretList.includes(s)) this.secretList.push(s);
  }

  get secrets(): readonly string[] {
    return this.secretList;
  }

  mask(text: string): string {
    return maskSecrets(text, this.secretList);
  }

  /** Whether the command's result (its JSON document or text) has been printed. */
  get hasResult(): boolean {
    return this.resultWritten;
  }

  /**
   * The command's result: `json` as one document with --json, else `text()` (called only then).
   * Printed once; a second call is a bug in the command.
   */
  result(json: unknown, text: () => string): void {
    if (this.resultWritten) throw new TypeError("a command printed two results");
    this.resultWritten = true;
    const body = this.json ? toJson(json) : text();
    if (body !== "") this.stdout.write(`${this.mask(body)}\n`);
  }

  /** A line of text on standard output, in text mode only (streamed output such as ping lines). */
  line(text: string): void {
    if (!this.json) this.stdout.write(`${this.mask(text)}\n`);
  }

  /** A note for a human on standard error (suppressed with --json, which is for programs). */
  note(text: string): void {
    if (!this.json && !this.quiet) this.stderr.write(`${this.mask(text)}\n`);
  }

  /** A warning on standard error, shown in both modes (not with -q). */
  warn(text: string): void {
    if (!this.quiet) this.stderr.write(`iscsi: warning: ${this.mask(text)}\n`);
  }

  /** One line of the -v events or the -vv trace (the caller checks the level). */
  trace(text: string): void {
    this.stderr.write(`${this.mask(text)}\n`);
  }

  /** The one-line error (and, for -v on an internal error, the stack after it). */
  error(message: string, detail?: string): void {
    this.stderr.write(`iscsi: ${this.mask(message)}\n`);
    if (detail !== undefined) this.stderr.write(`${this.mask(detail)}\n`);
  }

  /**
   * With --json, a failure is still one document on standard output, after whatever ran; with
   * --ndjson, the stream ends with a {"type": "error", ...} line, argument errors included.
   */
  errorDocument(error: { readonly code: string | undefined; readonly message: string; readonly exitCode: number }): void {
    if (this.resultWritten || !(this.json || this.ndjson)) return;
    this.resultWritten = true;
    const fields = { code: error.code ?? null, message: error.message, exitCode: error.exitCode };
    this.stdout.write(`${this.mask(this.json ? toJson({ error: fields }) : toJson({ type: "error", ...fields }, 0))}\n`);
  }

  /** Resolves once everything written to stdout so far has been handed to the OS. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.stdout.write("", () => resolve());
    });
  }
}
