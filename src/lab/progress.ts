// Progress for long lab steps: on a terminal one self-rewriting line with a spinner and elapsed time,
// elsewhere (CI, pipes) one plain line per step.
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Progress {
  private readonly tty: boolean;
  private timer: NodeJS.Timeout | undefined;
  private text = '';
  private stepStart = 0;
  private frame = 0;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr, tty?: boolean) {
    this.tty = tty ?? Boolean(out.isTTY);
  }

  /** Starts a step (ending the previous one as done). */
  step(text: string): void {
    if (this.text) this.done();
    this.text = text;
    this.stepStart = Date.now();
    if (!this.tty) {
      this.out.write(`… ${text}\n`);
      return;
    }
    this.render();
    this.timer = setInterval(() => this.render(), 100);
    this.timer.unref();
  }

  /** Changes the current step's text (e.g. a count); printed only on a terminal. */
  update(text: string): void {
    this.text = text;
    if (this.tty) this.render();
  }

  done(mark = '✓', text?: string): void {
    if (!this.text && !text) return;
    this.stopTimer();
    const secs = ((Date.now() - this.stepStart) / 1000).toFixed(1);
    const line = `${mark} ${text ?? this.text} (${secs} s)`;
    this.out.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
    this.text = '';
  }

  fail(text?: string): void {
    this.done('✗', text);
  }

  /** Prints a line above the progress line. */
  log(line: string): void {
    if (this.tty && this.text) this.out.write('\r\x1b[K');
    this.out.write(line + '\n');
    if (this.tty && this.text) this.render();
  }

  private render(): void {
    const secs = ((Date.now() - this.stepStart) / 1000).toFixed(0);
    this.frame = (this.frame + 1) % FRAMES.length;
    this.out.write(`\r\x1b[K${FRAMES[this.frame]} ${this.text} ${secs} s`);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
