/**
 * isnsd (Debian's open-isns) as a test fixture: on 127.0.0.1 and a port of its own, its database,
 * control socket and PID file in a temporary directory, stopped by PID. `DefaultDiscoveryDomain =
 * 1` puts every node in one domain, so nodes see each other without administration (open-isns
 * shows a node only the members of its discovery domains). `isnsadm` gets a client config of its
 * own pointing at this server.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { freeTcpPort } from "../support/ports.js";
import { checkOk, runCommand, spawnTracked, type TrackedProcess } from "../support/processes.js";
import { makeTempDir, type TempDir } from "../support/tmp.js";
import { pollUntil } from "../support/wait.js";

export interface IsnsdOptions {
  /** RegistrationPeriod in seconds (open-isns overrides what clients ask for with it); its default, 3600, unless told. */
  readonly registrationPeriod?: number;
}

export class Isnsd {
  private constructor(
    readonly port: number,
    private readonly dir: TempDir,
    private readonly proc: TrackedProcess,
  ) {}

  readonly host = "127.0.0.1";

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get clientConfig(): string {
    return this.dir.file("isnsadm.conf");
  }

  static async start(options: IsnsdOptions = {}): Promise<Isnsd> {
    const dir = await makeTempDir("iscsi-ts-isnsd-");
    await mkdir(dir.file("db"));
    for (let attempt = 0; ; attempt++) {
      const port = await freeTcpPort();
      await writeFile(
        dir.file("isnsd.conf"),
        [
          `Database = ${dir.file("db")}`,
          `BindAddress = 127.0.0.1:${port}`,
          `ControlSocket = ${dir.file("isnsd.sock")}`,
          `PIDFile = ${dir.file("isnsd.pid")}`,
          "Security = 0",
          "DefaultDiscoveryDomain = 1",
          ...(options.registrationPeriod === undefined ? [] : [`RegistrationPeriod = ${options.registrationPeriod}`]),
          "",
        ].join("\n"),
      );
      await writeFile(dir.file("isnsadm.conf"), [`ServerAddress = 127.0.0.1:${port}`, "Security = 0", `ControlSocket = ${dir.file("isnsd.sock")}`, ""].join("\n"));
      const proc = spawnTracked("isnsd", ["-f", "-c", dir.file("isnsd.conf")]);
      try {
        await pollUntil(async () => (proc.running ? (await canConnect(port)) : Promise.reject(new Error(`isnsd exited: ${proc.stderr()}`))), {
          what: `isnsd listening on 127.0.0.1:${port}`,
          timeoutMs: 5_000,
        });
        return new Isnsd(port, dir, proc);
      } catch (error) {
        await proc.kill();
        if (attempt >= 3) {
          await dir.remove();
          throw error;
        }
      }
    }
  }

  /** `isnsadm --query iscsi-name` against this server: every storage node's attributes, as text. */
  async queryNames(): Promise<string> {
    return checkOk(await runCommand("isnsadm", ["-c", this.clientConfig, "--query", "iscsi-name"], { timeoutMs: 10_000 })).stdout;
  }

  /** The iSCSI names isnsadm lists. */
  async names(): Promise<string[]> {
    return [...(await this.queryNames()).matchAll(/iSCSI name = "([^"]+)"/g)].map((m) => m[1] as string);
  }

  log(): string {
    return this.proc.stderr() + this.proc.stdout();
  }

  async stop(): Promise<void> {
    await this.proc.kill();
    await this.dir.remove();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
