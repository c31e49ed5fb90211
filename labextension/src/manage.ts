/**
 * Palette commands that manage logins: log out of an instance, and forget
 * the host keys trusted for it (for an instance that was rebuilt).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { showWorkbenchError } from './dialogs';
import { pickInstance } from './picker';
import { requestAPI, segment } from './request';
import { Workbench } from './tokens';

/**
 * The command that logs out of an instance.
 */
export const LOG_OUT_COMMAND = 'workbench:log-out';

/**
 * The command that forgets the host keys trusted for an instance.
 */
export const FORGET_HOST_KEY_COMMAND = 'workbench:forget-host-key';

/**
 * Add the login management commands; return their ids for the palette.
 */
export function addLoginCommands(
  app: JupyterFrontEnd,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): string[] {
  app.commands.addCommand(LOG_OUT_COMMAND, {
    label: trans.__('Log Out of Instance…'),
    caption: trans.__('Close your connections and terminals on an instance'),
    execute: () =>
      Private.run(settings, trans, {
        title: trans.__('Log Out of Instance'),
        offer: instance => instance.logged_in,
        question: name =>
          trans.__('Log out of %1? Its terminals will be closed.', name),
        button: trans.__('Log out'),
        request: name => ({ path: `instances/${segment(name)}/login` }),
        done: name => trans.__('Logged out of %1', name)
      })
  });
  app.commands.addCommand(FORGET_HOST_KEY_COMMAND, {
    label: trans.__('Forget Host Key…'),
    caption: trans.__(
      'Forget the host keys trusted for an instance that was rebuilt'
    ),
    execute: () =>
      Private.run(settings, trans, {
        title: trans.__('Forget Host Key'),
        offer: instance => instance.protocol === 'ssh',
        question: name =>
          trans.__(
            'Forget the host keys you trusted for %1? The next login will ' +
              'show the key it presents for you to check again.',
            name
          ),
        button: trans.__('Forget'),
        request: name => ({ path: `instances/${segment(name)}/hostkey` }),
        done: name => trans.__('Host keys of %1 forgotten', name)
      })
  });
  return [LOG_OUT_COMMAND, FORGET_HOST_KEY_COMMAND];
}

namespace Private {
  /**
   * What one management command asks and does.
   */
  export interface IAction {
    title: string;
    offer: (instance: Workbench.IInstance) => boolean;
    question: (name: string) => string;
    button: string;
    request: (name: string) => { path: string };
    done: (name: string) => string;
  }

  /**
   * Pick an instance, confirm, and send the DELETE the action names.
   */
  export async function run(
    settings: ServerConnection.ISettings,
    trans: TranslationBundle,
    action: IAction
  ): Promise<void> {
    try {
      const { instances } = await requestAPI<{
        instances: Workbench.IInstance[];
      }>('instances', {}, settings);
      const offered = instances.filter(action.offer);
      if (offered.length === 0) {
        Notification.info(trans.__('No instance to choose from'));
        return;
      }
      const pick = await pickInstance(offered, [], trans, action.title);
      if (!pick || !('instance' in pick)) {
        return;
      }
      const name = pick.instance.name;
      const confirmed = await showDialog({
        title: action.title,
        body: action.question(name),
        buttons: [
          Dialog.cancelButton({ label: trans.__('Cancel') }),
          Dialog.warnButton({ label: action.button })
        ]
      });
      if (!confirmed.button.accept) {
        return;
      }
      await requestAPI(
        action.request(name).path,
        { method: 'DELETE' },
        settings
      );
      Notification.success(action.done(name), { autoClose: 5000 });
    } catch (reason) {
      await showWorkbenchError(action.title, reason, trans);
    }
  }
}
