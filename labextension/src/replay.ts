/**
 * Replay terminal recordings (asciicast v2) in an xterm.js terminal: the
 * "Replay Terminal Recording…" command for the server's recordings, and a
 * document viewer for `.cast` files opened from the file browser.
 *
 * The terminal has the recording's size and follows its resize events, so
 * the screen looks as it did; colours follow the JupyterLab theme. Pauses
 * longer than the recording's `idle_time_limit` (2 s when it has none) are
 * shortened. Seeking backwards resets the terminal and writes the output
 * again up to that point.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  IThemeManager,
  MainAreaWidget,
  showDialog
} from '@jupyterlab/apputils';
import {
  ABCWidgetFactory,
  DocumentRegistry,
  DocumentWidget
} from '@jupyterlab/docregistry';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import { ITheme, Terminal as XTerm } from '@xterm/xterm';

import { showWorkbenchError } from './dialogs';
import * as dom from './dom';
import { requestAPI, segment } from './request';
import { REPLAY_RECORDING_COMMAND, Workbench } from './tokens';

/**
 * The file type and viewer name of asciicast files.
 */
export const CAST_FILE_TYPE = 'asciicast';
const CAST_FACTORY = 'Terminal Recording Player';

/**
 * Pauses longer than this many seconds are shortened, unless the
 * recording's header says otherwise.
 */
const DEFAULT_IDLE_LIMIT = 2;

/**
 * The speeds offered, as multiples of the recorded pace.
 */
const SPEEDS = [0.5, 1, 2, 4, 8, 16];

/**
 * The longest wait between two updates of the position while playing.
 */
const TICK_MS = 200;

/**
 * A parsed asciicast v2 recording.
 */
export interface ICast {
  header: {
    version: 2;
    width: number;
    height: number;
    timestamp?: number;
    title?: string;
    idle_time_limit?: number;
  };
  /**
   * Output (`o`) and resize (`r`) events; input and markers are dropped.
   */
  events: [number, 'o' | 'r', string][];
}

/**
 * Parse asciicast v2 text.
 *
 * @throws Error naming the line that is not asciicast v2.
 */
export function parseCast(text: string): ICast {
  // Split on newlines only: U+2028 and friends stay raw inside JSON strings.
  const lines = text.split('\n');
  const header = Private.json(lines[0], 1) as ICast['header'] | null;
  if (
    !header ||
    typeof header !== 'object' ||
    header.version !== 2 ||
    !(header.width > 0) ||
    !(header.height > 0)
  ) {
    throw new Error('This is not an asciicast v2 recording.');
  }
  const events: ICast['events'] = [];
  lines.slice(1).forEach((line, index) => {
    if (!line.trim()) {
      return;
    }
    const event = Private.json(line, index + 2);
    if (
      !Array.isArray(event) ||
      event.length !== 3 ||
      typeof event[0] !== 'number' ||
      typeof event[2] !== 'string'
    ) {
      throw new Error(`Line ${index + 2} is not an asciicast event.`);
    }
    if (event[1] === 'o' || event[1] === 'r') {
      events.push(event as ICast['events'][number]);
    }
  });
  return { header, events };
}

/**
 * A terminal that replays one recording, with play/pause, speed and seek.
 */
export class ReplayPlayer extends Widget {
  constructor(
    trans: TranslationBundle,
    themeManager: IThemeManager | null = null
  ) {
    super();
    this._trans = trans;
    this.addClass('jp-workbench-replay');
    this.node.dataset.state = 'empty';

    this._play = document.createElement('button');
    this._play.className = 'jp-mod-styled jp-workbench-replay-play';
    this._play.onclick = () => (this.playing ? this.pause() : this.play());
    this._speed = document.createElement('select');
    this._speed.className = 'jp-mod-styled jp-workbench-replay-speed';
    this._speed.title = trans.__('Speed');
    for (const speed of SPEEDS) {
      const option = new Option(`${speed}×`, String(speed), speed === 1);
      this._speed.append(option);
    }
    this._speed.value = '1';
    this._speed.onchange = () => this._setSpeed(Number(this._speed.value));
    this._seek = document.createElement('input');
    this._seek.type = 'range';
    this._seek.className = 'jp-workbench-replay-seek';
    this._seek.min = '0';
    this._seek.step = '1';
    this._seek.setAttribute('aria-label', trans.__('Position'));
    this._seek.oninput = () => {
      // The slider counts milliseconds: its end is the end, whatever the rounding.
      const value = Number(this._seek.value);
      const end = value >= Number(this._seek.max);
      this.seek(end ? this.duration : value / 1000);
    };
    this._time = dom.node('span', 'jp-workbench-replay-time', []);
    this._screen = dom.node('div', 'jp-workbench-replay-screen', []);
    this.node.append(
      dom.node('div', 'jp-workbench-replay-controls', [
        this._play,
        this._speed,
        this._seek,
        this._time
      ]),
      this._screen
    );

    // Screen-reader mode mirrors the rows as text, for people and tests.
    this._term = new XTerm({
      screenReaderMode: true,
      disableStdin: true,
      cursorBlink: false,
      convertEol: false,
      scrollback: 10000,
      theme: Private.inheritedTheme()
    });
    themeManager?.themeChanged.connect(this._onTheme, this);
    this._showState();
  }

  /**
   * Whether the recording is playing.
   */
  get playing(): boolean {
    return this._timer !== null;
  }

  /**
   * The position on the (idle-shortened) timeline, in seconds.
   */
  get position(): number {
    return this._position;
  }

  /**
   * The length of the (idle-shortened) timeline, in seconds.
   */
  get duration(): number {
    return this._times.length ? this._times[this._times.length - 1] : 0;
  }

  /**
   * Load a recording and play it from the start.
   */
  load(cast: ICast): void {
    this.pause();
    this._cast = cast;
    const limit = cast.header.idle_time_limit ?? DEFAULT_IDLE_LIMIT;
    let last = 0;
    let shifted = 0;
    this._times = cast.events.map(([at]) => {
      shifted += Math.min(Math.max(at - last, 0), limit);
      last = at;
      return shifted;
    });
    this._seek.max = String(Math.ceil(this.duration * 1000));
    this.title.caption = cast.header.title ?? '';
    this._rewind();
    this.play();
  }

  /**
   * Play from the current position (from the start after the end).
   */
  play(): void {
    if (!this._cast || this.playing) {
      return;
    }
    if (this._index >= this._times.length) {
      this._rewind();
    }
    this._last = performance.now();
    this._timer = window.setTimeout(this._tick, 0);
    this._showState();
  }

  /**
   * Stop at the current position.
   */
  pause(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    this._showState();
  }

  /**
   * Show the screen as it was at *seconds* on the timeline.
   */
  seek(seconds: number): void {
    if (!this._cast) {
      return;
    }
    const target = Math.min(Math.max(seconds, 0), this.duration);
    if (target < this._position) {
      this._rewind();
    }
    this._apply(target);
    this._position = target;
    this._last = performance.now();
    this._showState();
  }

  dispose(): void {
    this.pause();
    this._term.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._opened) {
      this._opened = true;
      this._term.open(this._screen);
    }
  }

  private _setSpeed(speed: number): void {
    this._speedValue = speed > 0 ? speed : 1;
    this._last = performance.now();
  }

  private _tick = (): void => {
    const now = performance.now();
    const elapsed = ((now - this._last) / 1000) * this._speedValue;
    this._last = now;
    this._position = Math.min(this._position + elapsed, this.duration);
    this._apply(this._position);
    if (this._index >= this._times.length) {
      this._timer = null;
      this._position = this.duration;
      this._showState();
      return;
    }
    const wait =
      ((this._times[this._index] - this._position) / this._speedValue) * 1000;
    this._timer = window.setTimeout(
      this._tick,
      Math.max(0, Math.min(wait, TICK_MS))
    );
    this._showState();
  };

  /**
   * Write the events up to *seconds* that are not written yet.
   */
  private _apply(seconds: number): void {
    const events = this._cast?.events ?? [];
    let text = '';
    while (this._index < events.length && this._times[this._index] <= seconds) {
      const [, kind, data] = events[this._index];
      if (kind === 'o') {
        text += data;
      } else {
        if (text) {
          this._term.write(text);
          text = '';
        }
        this._resize(data);
      }
      this._index++;
    }
    if (text) {
      this._term.write(text);
    }
  }

  private _rewind(): void {
    const header = this._cast?.header;
    this._term.reset();
    if (header) {
      this._term.resize(header.width, header.height);
    }
    this._index = 0;
    this._position = 0;
  }

  private _resize(size: string): void {
    const [cols, rows] = size.split('x').map(Number);
    if (cols > 0 && rows > 0) {
      this._term.resize(cols, rows);
    }
  }

  private _showState(): void {
    const trans = this._trans;
    const ended = this._cast !== null && this._index >= this._times.length;
    this.node.dataset.state = !this._cast
      ? 'empty'
      : this.playing
        ? 'playing'
        : ended
          ? 'ended'
          : 'paused';
    this._play.textContent = this.playing
      ? trans.__('Pause')
      : trans.__('Play');
    this._play.disabled = !this._cast;
    this._seek.value = String(Math.round(this._position * 1000));
    this._time.textContent = `${Private.clock(this._position)} / ${Private.clock(
      this.duration
    )}`;
  }

  private _onTheme(): void {
    this._term.options.theme = Private.inheritedTheme();
  }

  private _trans: TranslationBundle;
  private _term: XTerm;
  private _opened = false;
  private _cast: ICast | null = null;
  private _times: number[] = [];
  private _index = 0;
  private _position = 0;
  private _last = 0;
  private _speedValue = 1;
  private _timer: number | null = null;
  private _play: HTMLButtonElement;
  private _speed: HTMLSelectElement;
  private _seek: HTMLInputElement;
  private _time: HTMLElement;
  private _screen: HTMLElement;
}

/**
 * Register the replay command, and the viewer of `.cast` files.
 *
 * @returns the command id, for the palette.
 */
export function addReplayCommand(
  app: JupyterFrontEnd,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle,
  themeManager: IThemeManager | null
): string {
  app.commands.addCommand(REPLAY_RECORDING_COMMAND, {
    label: trans.__('Replay Terminal Recording…'),
    caption: trans.__('Replay a recorded instance terminal'),
    execute: async args => {
      try {
        const id =
          (args.id as string | undefined) ??
          (await pickRecording(
            args.user as string | undefined,
            settings,
            trans
          ));
        if (!id) {
          return null;
        }
        const user = args.user as string | undefined;
        const query = `?format=json${user ? `&user=${segment(user)}` : ''}`;
        const { cast } = await requestAPI<{ cast: string }>(
          `recordings/${segment(id)}${query}`,
          {},
          settings
        );
        const player = new ReplayPlayer(trans, themeManager);
        const panel = new MainAreaWidget({ content: player });
        panel.id = `jp-workbench-replay-${id}`;
        panel.title.label = trans.__('Replay %1', id.slice(0, 8));
        panel.title.closable = true;
        app.shell.add(panel, 'main');
        player.load(parseCast(cast));
        panel.title.caption = player.title.caption;
        app.shell.activateById(panel.id);
        return panel;
      } catch (reason) {
        await showWorkbenchError(
          trans.__('Cannot replay the recording'),
          reason,
          trans
        );
        return null;
      }
    }
  });

  app.docRegistry.addFileType({
    name: CAST_FILE_TYPE,
    displayName: trans.__('Terminal recording'),
    extensions: ['.cast'],
    mimeTypes: ['application/x-asciicast'],
    fileFormat: 'text',
    contentType: 'file'
  });
  app.docRegistry.addWidgetFactory(
    new CastViewerFactory(trans, themeManager, {
      name: CAST_FACTORY,
      label: trans.__('Terminal Recording Player'),
      fileTypes: [CAST_FILE_TYPE],
      defaultFor: [CAST_FILE_TYPE],
      readOnly: true
    })
  );
  return REPLAY_RECORDING_COMMAND;
}

/**
 * Opens `.cast` files from the file browser in a `ReplayPlayer`.
 */
class CastViewerFactory extends ABCWidgetFactory<DocumentWidget<ReplayPlayer>> {
  constructor(
    private _trans: TranslationBundle,
    private _themeManager: IThemeManager | null,
    options: DocumentRegistry.IWidgetFactoryOptions<
      DocumentWidget<ReplayPlayer>
    >
  ) {
    super(options);
  }

  protected createNewWidget(
    context: DocumentRegistry.Context
  ): DocumentWidget<ReplayPlayer> {
    const player = new ReplayPlayer(this._trans, this._themeManager);
    const widget = new DocumentWidget({ content: player, context });
    const load = () => {
      try {
        player.load(parseCast(context.model.toString()));
      } catch (reason) {
        player.node.dataset.state = 'error';
        player.node.append(
          dom.node('p', 'jp-workbench-replay-error', [String(reason)])
        );
      }
    };
    void context.ready.then(load);
    return widget;
  }
}

/**
 * Ask which recording to replay.
 *
 * @returns the recording id, or null when cancelled.
 */
async function pickRecording(
  user: string | undefined,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): Promise<string | null> {
  const query = user ? `?user=${segment(user)}` : '';
  const { recordings } = await requestAPI<{
    recordings: Workbench.IRecording[];
  }>(`recordings${query}`, {}, settings);
  if (recordings.length === 0) {
    await showDialog({
      title: trans.__('No terminal recordings'),
      body: trans.__(
        'Terminals are recorded when the server sets ' +
          'WorkbenchApp.record_terminals or an access policy requires it.'
      ),
      buttons: [Dialog.okButton({ label: trans.__('OK') })]
    });
    return null;
  }
  const select = document.createElement('select');
  select.id = 'jp-workbench-replay-pick';
  select.className = 'jp-mod-styled';
  select.size = Math.min(recordings.length, 10);
  for (const recording of recordings) {
    const when = recording.timestamp
      ? new Date(recording.timestamp * 1000).toLocaleString()
      : '';
    const label = `${recording.title ?? recording.id} — ${when}`;
    select.append(new Option(label, recording.id));
  }
  select.selectedIndex = 0;
  const body = new Widget({
    node: dom.labelled(trans.__('Recording'), select)
  });
  const result = await showDialog({
    title: trans.__('Replay Terminal Recording'),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Replay') })
    ],
    focusNodeSelector: '#jp-workbench-replay-pick'
  });
  return result.button.accept ? select.value : null;
}

namespace Private {
  /**
   * Parse one line of JSON, naming the line when it is not JSON.
   */
  export function json(line: string | undefined, number: number): unknown {
    try {
      return JSON.parse(line ?? '');
    } catch {
      throw new Error(`Line ${number} of the recording is not JSON.`);
    }
  }

  /**
   * The terminal colours of the current JupyterLab theme.
   */
  export function inheritedTheme(): ITheme {
    const style = getComputedStyle(document.body);
    const value = (name: string) => style.getPropertyValue(name).trim();
    return {
      foreground: value('--jp-ui-font-color0'),
      background: value('--jp-layout-color0'),
      cursor: value('--jp-ui-font-color1'),
      cursorAccent: value('--jp-ui-inverse-font-color0'),
      selectionBackground: value('--jp-layout-color3'),
      selectionInactiveBackground: value('--jp-layout-color2')
    };
  }

  /**
   * Format seconds as m:ss.
   */
  export function clock(seconds: number): string {
    const whole = Math.floor(seconds);
    const minutes = Math.floor(whole / 60);
    return `${minutes}:${String(whole % 60).padStart(2, '0')}`;
  }
}
