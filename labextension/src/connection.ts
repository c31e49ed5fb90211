/**
 * A terminal connection that speaks the workbench terminal channel.
 *
 * It implements JupyterLab's `Terminal.ITerminalConnection`, so that the
 * `Terminal` widget of `@jupyterlab/terminal` renders a remote session.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection, Terminal } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI, segment, WorkbenchError } from './request';
import { API_PATH, Workbench } from './tokens';

/**
 * Seconds between keep-alive pings, so that proxies keep the socket open.
 */
const PING_INTERVAL = 30;

/**
 * The longest wait between two reconnection attempts, in seconds.
 */
const MAX_RETRY_DELAY = 30;

/**
 * How many times in a row to try reconnecting before giving up.
 */
const MAX_RETRIES = 12;

/**
 * How much of the latest output to keep, to see what the server wrote.
 */
const TAIL_SIZE = 1024;

/**
 * The connection to one workbench terminal session.
 *
 * The session lives on the server: closing the socket (a page reload) does
 * not end it, and every (re)attach starts with `setup` and the scrollback.
 * When the session ends, the reason is written to the terminal and the
 * status becomes `disconnected`; the connection is not disposed, so the
 * panel stays open and shows why.
 */
export class WorkbenchTerminalConnection
  implements Terminal.ITerminalConnection
{
  /**
   * Connect to an existing terminal session.
   */
  constructor(options: WorkbenchTerminalConnection.IOptions) {
    this.terminalId = options.terminalId;
    this.serverSettings = options.serverSettings;
    this._trans = options.trans;
    void this._connect();
  }

  /**
   * The id of the session on the server.
   */
  readonly terminalId: string;

  /**
   * The server settings of the connection.
   */
  readonly serverSettings: ServerConnection.ISettings;

  /**
   * The session's name for JupyterLab: its id.
   */
  get name(): string {
    return this.terminalId;
  }

  /**
   * The JupyterLab terminal model of the session.
   */
  get model(): Terminal.IModel {
    return { name: this.terminalId };
  }

  /**
   * The session as the server last described it, once known.
   */
  get info(): Workbench.ITerminal | null {
    return this._info;
  }

  /**
   * Why the session ended, or `null` while it runs.
   */
  get endReason(): string | null {
    return this._endReason;
  }

  /**
   * The state of the socket.
   */
  get connectionStatus(): Terminal.ConnectionStatus {
    return this._status;
  }

  /**
   * A signal emitted when the state of the socket changes.
   */
  get connectionStatusChanged(): ISignal<this, Terminal.ConnectionStatus> {
    return this._statusChanged;
  }

  /**
   * A signal emitted for every message from the session.
   */
  get messageReceived(): ISignal<this, Terminal.IMessage> {
    return this._messageReceived;
  }

  /**
   * Whether the connection is disposed.
   */
  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * A signal emitted when the connection is disposed.
   */
  get disposed(): ISignal<this, void> {
    return this._disposed;
  }

  /**
   * Send keystrokes or a new size; queued while the socket is down.
   */
  send(message: Terminal.IMessage): void {
    const content = message.content ?? [];
    if (this._isDisposed || this._endReason !== null) {
      return;
    }

    let frame: unknown[];
    if (message.type === 'stdin') {
      frame = ['stdin', String(content[0] ?? '')];
    } else if (message.type === 'set_size') {
      // The widget adds the pixel size; the channel takes rows and columns.
      frame = ['set_size', Number(content[0]), Number(content[1])];
      this._size = frame;
    } else {
      return;
    }

    if (this._status === 'connected' && this._ws) {
      this._ws.send(JSON.stringify(frame));
    } else if (message.type === 'stdin') {
      this._pending.push(frame);
    }
  }

  /**
   * Attach again, whatever the state of the socket.
   *
   * @returns a promise that resolves once attached, or rejects when the
   *   session has ended.
   */
  async reconnect(): Promise<void> {
    if (this._endReason !== null) {
      throw new Error(this._endReason);
    }
    this._retries = 0;
    await this._connect();
    if (this._status !== 'connected') {
      await new Promise<void>((resolve, reject) => {
        const settle = (_: unknown, status: Terminal.ConnectionStatus) => {
          if (status === 'connecting') {
            return;
          }
          this._statusChanged.disconnect(settle);
          status === 'connected'
            ? resolve()
            : reject(new Error(this._endReason ?? ''));
        };
        this._statusChanged.connect(settle);
      });
    }
  }

  /**
   * End the session on the server: its remote shell gets a hang-up.
   */
  async shutdown(): Promise<void> {
    try {
      await requestAPI<void>(
        `terminals/${segment(this.terminalId)}`,
        { method: 'DELETE' },
        this.serverSettings
      );
    } catch (reason) {
      if (!(reason instanceof WorkbenchError && reason.status === 404)) {
        throw reason;
      }
    }
    this.dispose();
  }

  /**
   * Close the socket and stop reconnecting; the session keeps running.
   */
  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._closeSocket();
    this._disposed.emit();
    Signal.clearData(this);
  }

  /**
   * Check that the session still exists, then open a socket to it.
   */
  private async _connect(): Promise<void> {
    this._closeSocket();
    this._setStatus('connecting');

    try {
      this._info = await requestAPI<Workbench.ITerminal>(
        `terminals/${segment(this.terminalId)}`,
        {},
        this.serverSettings
      );
    } catch (reason) {
      const status = reason instanceof WorkbenchError ? reason.status : 0;
      if (status === 404) {
        this._end(
          this._trans.__(
            'This terminal no longer exists on the server: it was closed, ' +
              'or the server restarted. Close this panel and open a new ' +
              'Instance Terminal.'
          )
        );
      } else if (status >= 400 && status < 500) {
        // Refused (a logout, another user's id): retrying will not help.
        this._end((reason as WorkbenchError).message);
      } else {
        // The server is restarting or unreachable: try again later.
        this._retryLater();
      }
      return;
    }
    if (this._isDisposed) {
      return;
    }
    if (!this._info.alive) {
      this._end(this._trans.__('This terminal session has ended.'));
      return;
    }
    this._openSocket();
  }

  /**
   * Open the websocket of the channel.
   */
  private _openSocket(): void {
    const settings = this.serverSettings;
    let url = URLExt.join(
      settings.wsUrl,
      API_PATH,
      'terminals',
      segment(this.terminalId),
      'channel'
    );
    if (settings.appendToken && settings.token) {
      url += `?token=${encodeURIComponent(settings.token)}`;
    }

    const ws = new settings.WebSocket(url);
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

    switch (frame[0]) {
      case 'setup':
        this._onSetup();
        break;
      case 'stdout':
        this._emit(String(frame[1] ?? ''));
        this._tail = (this._tail + String(frame[1] ?? '')).slice(-TAIL_SIZE);
        break;
      case 'disconnect':
        this._onDisconnect(String(frame[1] ?? ''));
        break;
      default:
        // `pong` and anything newer than this client.
        break;
    }
  }

  /**
   * Mark the socket attached; the scrollback follows.
   */
  private _onSetup(): void {
    if (this._attachedBefore) {
      // A reattach replays the scrollback: reset (RIS) so it is not doubled.
      this._emit('\x1bc');
    }
    this._attachedBefore = true;
    this._retries = 0;
    this._setStatus('connected');

    const frames = this._size ? [this._size, ...this._pending] : this._pending;
    this._pending = [];
    for (const frame of frames) {
      this._ws?.send(JSON.stringify(frame));
    }
    window.clearInterval(this._ping);
    this._ping = window.setInterval(
      () => this._ws?.send(JSON.stringify(['ping'])),
      PING_INTERVAL * 1000
    );
  }

  /**
   * End the session; say why unless the server just wrote the reason.
   */
  private _onDisconnect(reason: string): void {
    const written = reason !== '' && this._tail.includes(`[${reason}]`);
    const notice = reason
      ? this._trans.__('The session ended: %1', reason)
      : this._trans.__('The session ended.');
    this._end(notice, !written);
  }

  /**
   * Reconnect when a socket closes while its session still runs.
   */
  private _onClose(ws: WebSocket): void {
    if (ws !== this._ws || this._isDisposed || this._endReason !== null) {
      return;
    }
    this._ws = null;
    window.clearInterval(this._ping);

    // A socket that dropped after attaching retries at once; one that never
    // attached (refused upgrade, server restarting) waits first.
    if (this._status === 'connected') {
      this._retries = 0;
      void this._connect();
    } else {
      this._retryLater();
    }
  }

  /**
   * Try to connect again after a growing delay.
   */
  private _retryLater(): void {
    if (this._retries >= MAX_RETRIES) {
      this._notice(
        this._trans.__(
          'Lost the connection to the server. Reload the page to try again.'
        )
      );
      this._setStatus('disconnected');
      return;
    }
    this._setStatus('connecting');
    const delay = Math.min(2 ** this._retries, MAX_RETRY_DELAY);
    this._retries += 1;
    this._retry = window.setTimeout(() => void this._connect(), delay * 1000);
  }

  /**
   * Show why the session ended (unless told not to) and stay disconnected.
   */
  private _end(reason: string, notice = true): void {
    if (this._endReason !== null) {
      return;
    }
    this._endReason = reason;
    if (notice) {
      this._notice(reason);
    }
    this._closeSocket();
    this._setStatus('disconnected');
  }

  /**
   * Write a notice of ours to the terminal, dimmed and on its own line.
   */
  private _notice(text: string): void {
    this._emit(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
  }

  /**
   * Pass output to the widget.
   */
  private _emit(text: string): void {
    this._messageReceived.emit({ type: 'stdout', content: [text] });
  }

  /**
   * Change the status and tell the listeners.
   */
  private _setStatus(status: Terminal.ConnectionStatus): void {
    if (status === this._status) {
      return;
    }
    this._status = status;
    this._statusChanged.emit(status);
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

  private _trans: TranslationBundle;
  private _info: Workbench.ITerminal | null = null;
  private _ws: WebSocket | null = null;
  private _status: Terminal.ConnectionStatus = 'connecting';
  private _endReason: string | null = null;
  private _attachedBefore = false;
  private _tail = '';
  private _pending: unknown[][] = [];
  private _size: unknown[] | null = null;
  private _retries = 0;
  private _retry = 0;
  private _ping = 0;
  private _isDisposed = false;
  private _disposed = new Signal<this, void>(this);
  private _statusChanged = new Signal<this, Terminal.ConnectionStatus>(this);
  private _messageReceived = new Signal<this, Terminal.IMessage>(this);
}

/**
 * The options of a WorkbenchTerminalConnection.
 */
export namespace WorkbenchTerminalConnection {
  /**
   * What a connection needs.
   */
  export interface IOptions {
    /**
     * The id of the session, as `POST terminals` answered it.
     */
    terminalId: string;

    /**
     * The server settings of the application.
     */
    serverSettings: ServerConnection.ISettings;

    /**
     * The translation bundle for the messages written to the terminal.
     */
    trans: TranslationBundle;
  }
}
