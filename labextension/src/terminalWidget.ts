/**
 * The notebook terminal widget: an anywidget module that shows a workbench
 * terminal session in an output area with xterm.js.
 *
 * It is bundled on its own (scripts/build-widget.js) into
 * `jupyter_workbench/static/terminal-widget.js`, which the kernel's
 * `TerminalWidget` hands to anywidget; the JupyterLab extension does not
 * load it. It runs in the page that shows the notebook (JupyterLab 4 or
 * Notebook 7), so it reaches the Jupyter server with the page's own
 * credentials: the login cookie, and the token when the page has one.
 *
 * The wire protocol is the terminal channel of docs/api.md, the same one
 * the Instance Terminal panel speaks (connection.ts): `setup` and the
 * scrollback on every (re)attach, `stdout`, and `disconnect` with the
 * reason, which the server has also written as the last line of output.
 *
 * With the kernel's in-process gateway (model `transport` `kernel`) there
 * is no server to reach: the same messages go over the widget's comm, as
 * `{type, data, view}` objects; each view attaches with its own id.
 */
import { FitAddon } from '@xterm/addon-fit';
import { ITheme, Terminal } from '@xterm/xterm';

/**
 * The REST and websocket API's path under the server's base URL.
 */
const API_PATH = 'workbench/api/v1/';

/**
 * Seconds between keep-alive pings, so that proxies keep the socket open.
 */
const PING_INTERVAL = 30;

/**
 * How many times in a row to try reconnecting before giving up.
 */
const MAX_RETRIES = 8;

/**
 * How much of the latest output to keep, to see what the server wrote.
 */
const TAIL_SIZE = 1024;

/**
 * The part of anywidget's model that this module uses.
 */
export interface IWidgetModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: (...args: unknown[]) => void): void;
  off(event: string, callback?: (...args: unknown[]) => void): void;
  send(content: unknown): void;
}

/**
 * What anywidget passes to `render`.
 */
export interface IRenderProps {
  model: IWidgetModel;
  el: HTMLElement;
}

/**
 * Where the Jupyter server is, as seen from this page.
 */
export interface IServerLocation {
  /**
   * The server's base URL, absolute, ending in `/`.
   */
  baseUrl: string;

  /**
   * The websocket URL of the same base, ending in `/`.
   */
  wsUrl: string;

  /**
   * The page's Jupyter token, or an empty string.
   */
  token: string;
}

/**
 * Find the Jupyter server of this page.
 *
 * JupyterLab and Notebook 7 put their page config (`baseUrl`, `wsUrl`,
 * `token`) in a `jupyter-config-data` script element; older pages put
 * the base URL on `document.body`. The kernel's own view of the base path
 * is the last resort, on this page's origin.
 */
export function findServer(kernelBasePath: string): IServerLocation {
  const config = readPageConfig();
  const base =
    config.baseUrl || document.body.dataset.baseUrl || kernelBasePath || '/';
  const baseUrl = withSlash(new URL(base, window.location.href).href);
  let wsUrl = config.wsUrl ? withSlash(config.wsUrl) : '';
  if (!wsUrl) {
    wsUrl = baseUrl.replace(/^http/, 'ws');
  }
  return { baseUrl, wsUrl, token: config.token ?? '' };
}

/**
 * Show one terminal session in one output area.
 */
export class TerminalView {
  /**
   * Build the view in `el` and attach to the model's terminal.
   */
  constructor(model: IWidgetModel, el: HTMLElement) {
    this._model = model;
    this._server = findServer(String(model.get('base_path') ?? ''));
    this._terminalId = String(model.get('terminal_id') ?? '');
    this._viaKernel = model.get('transport') === 'kernel';

    el.classList.add('jp-WorkbenchTerminalWidget');
    this._status = document.createElement('div');
    this._status.className = 'jp-WorkbenchTerminalWidget-status';
    this._host = document.createElement('div');
    this._host.className = 'jp-WorkbenchTerminalWidget-screen';
    this._host.style.height = String(model.get('height') || '360px');
    el.append(this._host, this._status);
    el.dataset.workbenchTerminal = this._terminalId;
    this._el = el;

    this._term = new Terminal({
      screenReaderMode: Boolean(model.get('screen_reader')),
      scrollback: 10000,
      cursorBlink: true,
      allowProposedApi: false,
      ...themeOptions()
    });
    this._fit = new FitAddon();
    this._term.loadAddon(this._fit);
    this._term.open(this._host);
    this._term.onData(data => this._send(['stdin', data]));
    this._term.onResize(({ rows, cols }) =>
      this._send(['set_size', rows, cols])
    );

    // The output area's width changes with the panel; the height only when
    // the user drags the corner of the screen (CSS `resize: vertical`).
    this._resizeObserver = new ResizeObserver(() => this._scheduleFit());
    this._resizeObserver.observe(this._host);

    // JupyterLab marks the theme on <body> after loading its CSS.
    this._themeObserver = new MutationObserver(() => {
      this._term.options.theme = themeOptions().theme;
    });
    this._themeObserver.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
    });

    this._onHeight = () => {
      this._host.style.height = String(model.get('height') || '360px');
    };
    model.on('change:height', this._onHeight);
    this._onCustom = (content: unknown) => this._onKernelMessage(content);
    model.on('msg:custom', this._onCustom);

    if (!this._terminalId) {
      this._end('This widget has no terminal id.');
      return;
    }
    this._scheduleFit();
    void this._connect();
  }

  /**
   * Close the socket and stop observing; the session keeps running.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._closeSocket();
    this._resizeObserver.disconnect();
    this._themeObserver.disconnect();
    this._model.off('change:height', this._onHeight);
    this._model.off('msg:custom', this._onCustom);
    cancelAnimationFrame(this._fitFrame);
    this._term.dispose();
  }

  /**
   * Check that the session exists, then open a socket to it.
   */
  private async _connect(): Promise<void> {
    this._closeSocket();
    this._setStatus('connecting', 'Connecting…');
    if (this._viaKernel) {
      this._model.send({ type: 'attach', view: this._viewId });
      return;
    }

    let answer: Response;
    try {
      answer = await fetch(this._apiUrl(), {
        credentials: 'same-origin',
        headers: this._server.token
          ? { Authorization: `token ${this._server.token}` }
          : {}
      });
    } catch {
      this._retryLater();
      return;
    }
    if (this._disposed) {
      return;
    }
    if (answer.status === 404) {
      this._end(
        'This terminal no longer exists on the server: it was closed, or ' +
          'the server restarted. Run the cell again for a new one.'
      );
      return;
    }
    if (answer.status >= 400 && answer.status < 500) {
      this._end(await errorMessage(answer));
      return;
    }
    if (!answer.ok) {
      this._retryLater();
      return;
    }
    const info = (await answer.json()) as { alive?: boolean };
    if (info.alive === false) {
      this._end('This terminal session has ended.');
      return;
    }
    this._openSocket();
  }

  /**
   * Open the websocket of the terminal channel.
   */
  private _openSocket(): void {
    let url = `${this._server.wsUrl}${API_PATH}terminals/${encodeURIComponent(
      this._terminalId
    )}/channel`;
    // Same origin: the browser sends the login cookie with the upgrade.
    // Another host (a proxy in between) gets no cookie, so the token goes
    // along, as JupyterLab does for its own sockets in that case.
    if (this._server.token && !sameHost(this._server.wsUrl)) {
      url += `?token=${encodeURIComponent(this._server.token)}`;
    }
    const ws = new WebSocket(url);
    ws.onmessage = event => this._onFrame(String(event.data));
    ws.onclose = () => this._onClose(ws);
    this._ws = ws;
  }

  /**
   * Handle one frame of the channel.
   */
  private _onFrame(data: string): void {
    let frame: unknown[];
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    this._handle(frame);
  }

  /**
   * Handle one message of the channel, from the socket or the kernel.
   */
  private _handle(frame: unknown[]): void {
    switch (frame[0]) {
      case 'setup':
        this._onSetup();
        break;
      case 'stdout': {
        const text = String(frame[1] ?? '');
        this._term.write(text);
        this._tail = (this._tail + text).slice(-TAIL_SIZE);
        break;
      }
      case 'disconnect':
        this._onDisconnect(String(frame[1] ?? ''));
        break;
      default:
        // `pong` and anything newer than this widget.
        break;
    }
  }

  /**
   * Attached: the scrollback follows; send our size and queued keystrokes.
   */
  private _onSetup(): void {
    if (this._attachedBefore) {
      // A reattach replays the scrollback: reset so it is not doubled.
      this._term.reset();
      this._tail = '';
    }
    this._attachedBefore = true;
    this._retries = 0;
    this._setStatus('connected', '');

    const frames = [
      ['set_size', this._term.rows, this._term.cols],
      ...this._pending
    ];
    this._pending = [];
    for (const frame of frames) {
      this._transmit(frame);
    }
    if (this._viaKernel) {
      return;
    }
    window.clearInterval(this._ping);
    this._ping = window.setInterval(
      () => this._ws?.send(JSON.stringify(['ping'])),
      PING_INTERVAL * 1000
    );
  }

  /**
   * The session ended: show why, unless the server just wrote it.
   */
  private _onDisconnect(reason: string): void {
    const written = reason !== '' && this._tail.includes(`[${reason}]`);
    this._end(reason || 'The session ended.', !written);
  }

  /**
   * Reconnect when the socket drops while the session still runs.
   */
  private _onClose(ws: WebSocket): void {
    if (ws !== this._ws || this._disposed || this._endReason !== null) {
      return;
    }
    this._ws = null;
    window.clearInterval(this._ping);
    if (this._statusName === 'connected') {
      this._retries = 0;
      void this._connect();
    } else {
      this._retryLater();
    }
  }

  /**
   * Try again after a growing delay, then give up with a notice.
   */
  private _retryLater(): void {
    if (this._retries >= MAX_RETRIES) {
      this._end(
        'Lost the connection to the Jupyter server. Run the cell again, or ' +
          'reload the page, to reattach.'
      );
      return;
    }
    const delay = Math.min(2 ** this._retries, 30);
    this._retries += 1;
    this._setStatus(
      'connecting',
      `Connection lost; trying again in ${delay} s…`
    );
    this._retry = window.setTimeout(() => void this._connect(), delay * 1000);
  }

  /**
   * Stop for good: write the reason (unless told not to) and keep it.
   */
  private _end(reason: string, notice = true): void {
    if (this._endReason !== null) {
      return;
    }
    this._endReason = reason;
    if (notice) {
      this._term.write(`\r\n\x1b[2m[${reason}]\x1b[0m\r\n`);
    }
    this._closeSocket();
    this._setStatus('ended', reason);
  }

  /**
   * A message from the kernel: text to type (`TerminalWidget.write`), or
   * the channel of an in-process session.
   */
  private _onKernelMessage(content: unknown): void {
    const message = content as {
      type?: string;
      text?: unknown;
      data?: unknown;
      view?: string;
    };
    if (message?.type === 'stdin' && typeof message.text === 'string') {
      this._send(['stdin', message.text]);
      return;
    }
    if (!this._viaKernel || typeof message?.type !== 'string') {
      return;
    }
    // Answers to another view's attach, and live output before this view's
    // own setup (its scrollback will hold it), are not for this view.
    if (message.view ? message.view !== this._viewId : !this._kernelAttached) {
      return;
    }
    if (message.type === 'setup') {
      this._kernelAttached = true;
    }
    this._handle([message.type, message.data]);
  }

  /**
   * Send a frame now, or queue keystrokes until attached.
   */
  private _send(frame: unknown[]): void {
    if (this._endReason !== null) {
      return;
    }
    if (this._statusName === 'connected') {
      this._transmit(frame);
    } else if (frame[0] === 'stdin') {
      this._pending.push(frame);
    }
  }

  /**
   * Put one frame on the socket, or on the comm for an in-process session.
   */
  private _transmit(frame: unknown[]): void {
    if (!this._viaKernel) {
      this._ws?.send(JSON.stringify(frame));
    } else if (frame[0] === 'stdin') {
      this._model.send({ type: 'stdin', text: frame[1] });
    } else if (frame[0] === 'set_size') {
      this._model.send({ type: 'set_size', rows: frame[1], cols: frame[2] });
    }
  }

  /**
   * Fit the terminal to its box at the next frame (once per burst).
   */
  private _scheduleFit(): void {
    cancelAnimationFrame(this._fitFrame);
    this._fitFrame = requestAnimationFrame(() => {
      // A hidden output area (collapsed, another tab) has no size to fit.
      if (!this._disposed && this._host.clientWidth > 0) {
        this._fit.fit();
      }
    });
  }

  /**
   * Show the state under the screen and publish it to the kernel.
   */
  private _setStatus(name: string, text: string): void {
    this._statusName = name;
    this._status.textContent = text;
    this._el.dataset.workbenchStatus = name;
    this._model.set('status', name);
    this._model.set('end_reason', this._endReason ?? '');
    this._model.save_changes();
  }

  /**
   * Close the socket, if any, and stop the timers.
   */
  private _closeSocket(): void {
    window.clearInterval(this._ping);
    window.clearTimeout(this._retry);
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      ws.close();
    }
  }

  /**
   * The REST URL of the session.
   */
  private _apiUrl(): string {
    const id = encodeURIComponent(this._terminalId);
    return `${this._server.baseUrl}${API_PATH}terminals/${id}`;
  }

  private _model: IWidgetModel;
  private _server: IServerLocation;
  private _terminalId: string;
  private _viaKernel: boolean;
  private _viewId = Math.random().toString(36).slice(2);
  private _kernelAttached = false;
  private _el: HTMLElement;
  private _host: HTMLElement;
  private _status: HTMLElement;
  private _term: Terminal;
  private _fit: FitAddon;
  private _resizeObserver: ResizeObserver;
  private _themeObserver: MutationObserver;
  private _onHeight: () => void;
  private _onCustom: (content: unknown) => void;
  private _ws: WebSocket | null = null;
  private _statusName = 'connecting';
  private _endReason: string | null = null;
  private _attachedBefore = false;
  private _tail = '';
  private _pending: unknown[][] = [];
  private _retries = 0;
  private _retry = 0;
  private _ping = 0;
  private _fitFrame = 0;
  private _disposed = false;
}

/**
 * anywidget's entry point: one view per display of the widget.
 */
function render({ model, el }: IRenderProps): () => void {
  const view = new TerminalView(model, el);
  return () => view.dispose();
}

export default { render };

/**
 * The xterm.js options that follow the JupyterLab theme.
 */
function themeOptions(): {
  theme: ITheme;
  fontFamily?: string;
  fontSize?: number;
} {
  const style = getComputedStyle(document.body);
  const value = (name: string) => style.getPropertyValue(name).trim();
  const theme: ITheme = {
    foreground: value('--jp-ui-font-color0') || undefined,
    background: value('--jp-layout-color0') || undefined,
    cursor: value('--jp-ui-font-color1') || undefined,
    cursorAccent: value('--jp-ui-inverse-font-color0') || undefined,
    selectionBackground: value('--jp-layout-color3') || undefined,
    selectionInactiveBackground: value('--jp-layout-color2') || undefined
  };
  const fontSize = parseFloat(value('--jp-code-font-size'));
  return {
    theme,
    fontFamily: value('--jp-code-font-family') || undefined,
    fontSize: Number.isFinite(fontSize) ? fontSize : undefined
  };
}

/**
 * The page config of JupyterLab or Notebook 7, or an empty one.
 */
function readPageConfig(): {
  baseUrl?: string;
  wsUrl?: string;
  token?: string;
} {
  const element = document.getElementById('jupyter-config-data');
  if (!element?.textContent) {
    return {};
  }
  try {
    return JSON.parse(element.textContent);
  } catch {
    return {};
  }
}

/**
 * Whether a URL is on this page's host (so the login cookie goes along).
 */
function sameHost(url: string): boolean {
  return new URL(url).host === window.location.host;
}

/**
 * The message of an error answer of the API, or its status line.
 */
async function errorMessage(response: Response): Promise<string> {
  try {
    const data = await response.json();
    if (typeof data?.message === 'string') {
      return data.message;
    }
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return `The Jupyter server answered ${response.status} ${response.statusText}`;
}

/**
 * A URL with exactly one trailing slash.
 */
function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
