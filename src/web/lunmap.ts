/**
 * A map of the LUN: the whole address space as a grid of cells, each a slice of it, coloured by
 * what this page did there (written, read by the workload, looked at in the hex view). It shows
 * at a glance where a file landed and that random reads really spread over the whole unit.
 */

const COLUMNS = 32;
const ROWS = 8;
const CELLS = COLUMNS * ROWS;

export const MAP_COLORS = {
  empty: "#eef2f7",
  written: "#14b8a6",
  read: "37, 99, 235",
  viewed: "#f59e0b",
};

export class LunMap {
  private readonly written = new Uint8Array(CELLS);
  private readonly reads = new Uint32Array(CELLS);
  private readonly viewed = new Uint8Array(CELLS);
  private scheduled = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly blocks: number,
  ) {
    this.draw();
  }

  /** Blocks per cell (the last cell may hold fewer). */
  get blocksPerCell(): number {
    return Math.max(1, Math.ceil(this.blocks / CELLS));
  }

  private cellsOf(lba: number, count: number): [number, number] {
    const per = this.blocksPerCell;
    return [Math.min(CELLS - 1, Math.floor(lba / per)), Math.min(CELLS - 1, Math.floor((lba + Math.max(1, count) - 1) / per))];
  }

  markWritten(lba: number, count: number): void {
    const [a, b] = this.cellsOf(lba, count);
    this.written.fill(1, a, b + 1);
    this.schedule();
  }

  markRead(lba: number): void {
    const [a] = this.cellsOf(lba, 1);
    this.reads[a] = (this.reads[a] ?? 0) + 1;
    this.schedule();
  }

  markViewed(lba: number, count: number): void {
    this.viewed.fill(0);
    const [a, b] = this.cellsOf(lba, count);
    this.viewed.fill(1, a, b + 1);
    this.schedule();
  }

  /** Thousands of reads a second each mark a cell: draw once per frame. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  draw(): void {
    const ratio = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth || this.canvas.width;
    const height = this.canvas.clientHeight || this.canvas.height;
    if (this.canvas.width !== Math.round(width * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
    }
    const c = this.canvas.getContext("2d");
    if (c === null) return;
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.clearRect(0, 0, width, height);
    const gap = 2;
    const w = (width - gap * (COLUMNS - 1)) / COLUMNS;
    const h = (height - gap * (ROWS - 1)) / ROWS;
    let most = 0;
    for (const r of this.reads) most = Math.max(most, r);
    for (let i = 0; i < CELLS; i++) {
      const x = (i % COLUMNS) * (w + gap);
      const y = Math.floor(i / COLUMNS) * (h + gap);
      c.fillStyle = this.written[i] ? MAP_COLORS.written : MAP_COLORS.empty;
      c.fillRect(x, y, w, h);
      const reads = this.reads[i] ?? 0;
      if (reads > 0) {
        // A dot whose size grows with the log of the reads: one read shows, the busiest cell is
        // not the only one that does, and a written cell stays visible around it.
        const share = Math.log1p(reads) / Math.log1p(most);
        c.fillStyle = `rgba(${MAP_COLORS.read}, ${(0.45 + 0.5 * share).toFixed(3)})`;
        c.beginPath();
        c.arc(x + w / 2, y + h / 2, Math.max(1.2, (Math.min(w, h) / 2 - 0.5) * (0.35 + 0.65 * share)), 0, 2 * Math.PI);
        c.fill();
      }
      if (this.viewed[i]) {
        c.strokeStyle = MAP_COLORS.viewed;
        c.lineWidth = 2;
        c.strokeRect(x + 1, y + 1, w - 2, h - 2);
      }
    }
  }
}
