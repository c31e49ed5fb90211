/**
 * Broadcast typing to several instance terminals, like synchronized panes.
 *
 * Each instance terminal panel gets a "Broadcast" toolbar toggle. Keystrokes
 * typed into any broadcasting terminal go to every broadcasting terminal.
 * After a broadcast Enter, once output has settled, each pane's output since
 * that Enter is compared (escape sequences removed, the echoed command line
 * and the final prompt line left out); panes whose output differs from the
 * most common one are marked, so a host that went its own way is seen.
 */
import { MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { Terminal as TerminalNS } from '@jupyterlab/services';
import { Terminal } from '@jupyterlab/terminal';
import { TranslationBundle } from '@jupyterlab/translation';

import { WorkbenchTerminalConnection } from './connection';

/**
 * Milliseconds without output from any pane before outputs are compared.
 */
const SETTLE_MS = 700;

/**
 * Characters of output kept per pane since the last broadcast Enter.
 */
const MAX_OUTPUT = 65536;

/**
 * One terminal taking part in the broadcast.
 */
interface IMember {
  panel: MainAreaWidget<Terminal>;
  send: (message: TerminalNS.IMessage) => void;
  output: string;
}

/**
 * The terminals that broadcast, and the comparison of their output.
 */
export class BroadcastGroup {
  /**
   * Add a "Broadcast" toggle to an instance terminal panel.
   */
  add(
    panel: MainAreaWidget<Terminal>,
    connection: WorkbenchTerminalConnection,
    trans: TranslationBundle
  ): void {
    const send = connection.send.bind(connection);
    const member: IMember = { panel, send, output: '' };
    // Keystrokes of a broadcasting pane go to every broadcasting pane;
    // forwarded ones use the original send, so they are not echoed back.
    connection.send = (message: TerminalNS.IMessage) => {
      if (message.type === 'stdin' && this._members.has(member)) {
        this._broadcast(message);
      } else {
        send(message);
      }
    };
    connection.messageReceived.connect((_, message) => {
      if (message.type === 'stdout' && this._members.has(member)) {
        const text = member.output + String(message.content?.[0] ?? '');
        member.output = text.slice(-MAX_OUTPUT);
        this._schedule();
      }
    });

    const button = new ToolbarButton({
      className: 'jp-workbench-broadcast-button',
      label: trans.__('Broadcast'),
      tooltip: trans.__(
        'Send what you type here to every terminal with Broadcast on'
      ),
      onClick: () => this._toggle(member, button)
    });
    panel.toolbar.addItem('workbench-broadcast', button);
    panel.node.dataset.broadcast = 'off';
    panel.disposed.connect(() => {
      this._members.delete(member);
      this._compare();
    });
  }

  private _toggle(member: IMember, button: ToolbarButton): void {
    const on = !this._members.has(member);
    if (on) {
      this._members.add(member);
    } else {
      this._members.delete(member);
    }
    member.output = '';
    member.panel.node.dataset.broadcast = on ? 'on' : 'off';
    button.toggleClass('jp-mod-active', on);
    button.node.setAttribute('aria-pressed', String(on));
    this._mark(member, false);
  }

  private _broadcast(message: TerminalNS.IMessage): void {
    const text = String(message.content?.[0] ?? '');
    if (text.includes('\r')) {
      // A new command: compare what each pane prints from here on.
      for (const member of this._members) {
        member.output = '';
        this._mark(member, false);
      }
      this._armed = true;
    }
    for (const member of this._members) {
      member.send(message);
    }
  }

  private _schedule(): void {
    if (!this._armed) {
      return;
    }
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => this._compare(), SETTLE_MS);
  }

  private _compare(): void {
    if (this._members.size < 2) {
      return;
    }
    const results = new Map<IMember, string>();
    const counts = new Map<string, number>();
    for (const member of this._members) {
      const result = Private.normalize(member.output);
      results.set(member, result);
      counts.set(result, (counts.get(result) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    const common = [...counts.entries()].filter(([, n]) => n === top);
    // With no single most common output (e.g. two panes that disagree),
    // every pane is marked: none of them can be called the odd one out.
    const agreed = common.length === 1 ? common[0][0] : null;
    for (const [member, result] of results) {
      this._mark(member, result !== agreed);
    }
  }

  private _mark(member: IMember, differs: boolean): void {
    member.panel.toggleClass('jp-workbench-broadcast-differs', differs);
    member.panel.node.dataset.broadcastDiffers = String(differs);
  }

  private _members = new Set<IMember>();
  private _armed = false;
  private _timer = 0;
}

/**
 * The broadcast group shared by every instance terminal of the page.
 */
export const broadcastGroup = new BroadcastGroup();

namespace Private {
  /**
   * Return the lines a command printed: no escapes, no echo, no prompt.
   */
  export function normalize(output: string): string {
    /* eslint-disable no-control-regex */
    const escapes =
      /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b./g;
    /* eslint-enable no-control-regex */
    const plain = output.replace(escapes, '').replace(/\r/g, '');
    const lines = plain.split('\n');
    return lines.slice(1, -1).join('\n').trim();
  }
}
