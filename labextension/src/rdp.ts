/**
 * Remote desktops of RDP instances: a login dialog, then the workbench's
 * remote desktop page (or a Guacamole web app) in a main-area panel.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, MainAreaWidget, showDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { showWorkbenchError } from './dialogs';
import * as dom from './dom';
import { pickInstance } from './picker';
import { requestAPI, WorkbenchError } from './request';
import { OPEN_DESKTOP_COMMAND, Workbench } from './tokens';

/**
 * The credentials of a remote desktop; they go to the server only.
 */
interface IDesktopLogin {
  username: string;
  password: string;
  domain: string;
}

/**
 * Register the "Instance Desktop" command.
 *
 * @returns the command id, for the launcher and the palette.
 */
export function addDesktopCommand(
  app: JupyterFrontEnd,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): string {
  app.commands.addCommand(OPEN_DESKTOP_COMMAND, {
    label: trans.__('Instance Desktop'),
    caption: trans.__('Open the remote desktop of a Windows (RDP) instance'),
    execute: async args => {
      try {
        return await openDesktop(
          app,
          args.instance as string | undefined,
          settings,
          trans
        );
      } catch (reason) {
        await showWorkbenchError(
          trans.__('Cannot open the remote desktop'),
          reason,
          trans
        );
        return null;
      }
    }
  });
  return OPEN_DESKTOP_COMMAND;
}

/**
 * Pick an RDP instance, ask for its credentials, and show its desktop.
 */
export async function openDesktop(
  app: JupyterFrontEnd,
  name: string | undefined,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): Promise<MainAreaWidget<DesktopFrame> | null> {
  const { instances } = await requestAPI<{
    instances: Workbench.IInstance[];
  }>('instances', {}, settings);
  const rdp = instances.filter(instance => instance.protocol === 'rdp');
  let instance = rdp.find(candidate => candidate.name === name);
  if (!instance && name) {
    throw new WorkbenchError(
      'not_found',
      trans.__('There is no RDP instance named %1.', name)
    );
  }
  if (!instance) {
    if (rdp.length === 0) {
      throw new WorkbenchError(
        'not_found',
        trans.__(
          'There is no RDP instance in the inventory: add one with ' +
            'protocol = "rdp" to the inventory file.'
        )
      );
    }
    const pick = await pickInstance(
      rdp,
      [],
      trans,
      trans.__('Instance Desktop')
    );
    if (!pick || !('instance' in pick)) {
      return null;
    }
    instance = pick.instance;
  }

  const login = await askDesktopLogin(instance, trans);
  if (!login) {
    return null;
  }
  const content = new DesktopFrame(trans);
  const panel = new MainAreaWidget<DesktopFrame>({ content });
  panel.id = `jp-workbench-desktop-${Private.nextId()}`;
  panel.addClass('jp-workbench-desktop');
  panel.node.dataset.instance = instance.name;
  panel.title.label = trans.__('%1 desktop', instance.name);
  panel.title.closable = true;
  app.shell.add(panel, 'main');
  app.shell.activateById(panel.id);

  // Measure the panel once it is laid out, so the desktop starts at its size.
  await new Promise(resolve => requestAnimationFrame(resolve));
  const size = content.node.getBoundingClientRect();
  const answer = await requestAPI<Workbench.IDesktop>(
    'rdp',
    {
      method: 'POST',
      body: {
        instance: instance.name,
        ...login,
        width: Private.clamp(size.width),
        height: Private.clamp(size.height)
      }
    },
    settings
  ).catch(reason => {
    panel.dispose();
    throw reason;
  });
  content.load((answer.mode === 'webapp' ? answer.url : answer.page) ?? '');
  return panel;
}

/**
 * Ask for the user name, password and domain of a remote desktop.
 */
export async function askDesktopLogin(
  instance: Workbench.IInstance,
  trans: TranslationBundle
): Promise<IDesktopLogin | null> {
  const body = new DesktopLoginBody(instance, trans);
  const result = await showDialog({
    title: trans.__('Remote desktop of %1', instance.name),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Connect') })
    ],
    focusNodeSelector: instance.user
      ? '#jp-workbench-desktop-password'
      : '#jp-workbench-desktop-username'
  });
  return result.button.accept ? result.value : null;
}

/**
 * The panel's content: the desktop page in a same-origin frame.
 *
 * The page posts its state; the frame's title follows the remote name.
 */
export class DesktopFrame extends Widget {
  constructor(trans: TranslationBundle) {
    super();
    this.addClass('jp-workbench-desktop-frame');
    this.iframe = document.createElement('iframe');
    this.iframe.title = trans.__('Remote desktop');
    this.iframe.setAttribute('allow', 'clipboard-read; clipboard-write');
    this.node.appendChild(this.iframe);
    window.addEventListener('message', this._onMessage);
  }

  /**
   * The frame that shows the desktop page.
   */
  readonly iframe: HTMLIFrameElement;

  /**
   * Load the desktop page (same origin) or a Guacamole web app.
   */
  load(url: string): void {
    this.iframe.src = url;
    this.iframe.focus();
  }

  dispose(): void {
    window.removeEventListener('message', this._onMessage);
    super.dispose();
  }

  private _onMessage = (event: MessageEvent): void => {
    const data = event.data as {
      source?: string;
      kind?: string;
      detail?: unknown;
    };
    if (
      event.source !== this.iframe.contentWindow ||
      data?.source !== 'jupyter-workbench-rdp'
    ) {
      return;
    }
    this.node.dataset[data.kind ?? 'unknown'] = String(
      typeof data.detail === 'object'
        ? JSON.stringify(data.detail)
        : data.detail
    );
    if (data.kind === 'name' && typeof data.detail === 'string') {
      this.title.caption = data.detail;
      if (this.parent) {
        this.parent.title.caption = data.detail;
      }
    }
  };
}

/**
 * The body of the desktop login dialog.
 */
class DesktopLoginBody
  extends Widget
  implements Dialog.IBodyWidget<IDesktopLogin>
{
  constructor(instance: Workbench.IInstance, trans: TranslationBundle) {
    super();
    this.addClass('jp-workbench-login');
    this._username = dom.input('jp-workbench-desktop-username', 'text');
    this._username.value = instance.user ?? '';
    this._username.autocomplete = 'username';
    this._password = dom.input('jp-workbench-desktop-password', 'password');
    this._password.autocomplete = 'current-password';
    this._domain = dom.input('jp-workbench-desktop-domain', 'text');
    this.node.append(
      dom.labelled(trans.__('User name'), this._username),
      dom.labelled(trans.__('Password'), this._password),
      dom.labelled(trans.__('Domain (optional)'), this._domain)
    );
  }

  getValue(): IDesktopLogin {
    return {
      username: this._username.value.trim(),
      password: this._password.value,
      domain: this._domain.value.trim()
    };
  }

  private _username: HTMLInputElement;
  private _password: HTMLInputElement;
  private _domain: HTMLInputElement;
}

namespace Private {
  let counter = 0;

  /**
   * Return a number for the id of a new desktop panel.
   */
  export function nextId(): number {
    return ++counter;
  }

  /**
   * Keep a measured size within what the server accepts.
   */
  export function clamp(pixels: number): number {
    return Math.min(8192, Math.max(64, Math.floor(pixels)));
  }
}
