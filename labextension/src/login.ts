/**
 * The login conversation with an instance: credentials, host key,
 * keyboard-interactive challenges.
 */
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import {
  askChallenge,
  askLogin,
  confirmHostKey,
  ILoginDefaults,
  loginMethod,
  showHostKeyChanged,
  showWorkbenchError
} from './dialogs';
import { requestAPI, segment, WorkbenchError } from './request';
import { Workbench } from './tokens';

/**
 * The login errors that a diagnosis of the connection can explain.
 */
const DIAGNOSABLE = new Set(['unreachable', 'network_refused', 'ssh_error']);

/**
 * Log in to an instance, asking the user what the instance needs.
 *
 * The demo instance is logged in without a dialog: the server holds its
 * credentials. A wrong password brings the login dialog back with the
 * reason; an unknown host key is shown for approval and the login retried
 * with the same credentials; a changed host key is refused.
 *
 * @returns whether the instance is now logged in.
 */
export async function logIn(
  instance: Workbench.IInstance,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): Promise<boolean> {
  const path = `instances/${segment(instance.name)}/login`;
  const defaults: ILoginDefaults = {
    username: instance.login_user ?? instance.user ?? ''
  };
  let request: Workbench.ILoginRequest | null = instance.demo
    ? Private.demoRequest(instance)
    : null;

  for (;;) {
    request = request ?? (await askLogin(instance, defaults, trans));
    if (!request) {
      return false;
    }
    // Propose the same answers next time, but never the secrets.
    defaults.username = request.username ?? defaults.username;
    defaults.method = loginMethod(request);
    defaults.keyPath = request.key_path;

    try {
      let answer = await requestAPI<Workbench.LoginAnswer>(
        path,
        { method: 'POST', body: request },
        settings
      );
      while (answer.status === 'challenge') {
        const responses = await askChallenge(instance, answer, trans);
        if (!responses) {
          return false;
        }
        answer = await requestAPI<Workbench.LoginAnswer>(
          `${path}/${segment(answer.challenge)}`,
          { method: 'POST', body: { responses } },
          settings
        );
      }
      return true;
    } catch (reason) {
      if (!(reason instanceof WorkbenchError)) {
        throw reason;
      }
      const next = await Private.recover(instance, reason, settings, trans);
      if (next === 'stop') {
        return false;
      }
      if (next === 'ask') {
        defaults.error = reason.message;
        request = null;
      }
    }
  }
}

namespace Private {
  /**
   * The login body for the demo instance: no secret, the server has it.
   */
  export function demoRequest(
    instance: Workbench.IInstance
  ): Workbench.ILoginRequest {
    const username = instance.login_user ?? instance.user;
    return username ? { username } : {};
  }

  /**
   * Decide what follows a failed login: retry as is, ask again, or stop.
   */
  export async function recover(
    instance: Workbench.IInstance,
    error: WorkbenchError,
    settings: ServerConnection.ISettings,
    trans: TranslationBundle
  ): Promise<'retry' | 'ask' | 'stop'> {
    const key = error.details as unknown as Workbench.IHostKeyDetails;
    switch (error.error) {
      case 'auth_failed':
        return 'ask';
      case 'host_key_unknown':
        if (!(await confirmHostKey(instance, key, trans))) {
          return 'stop';
        }
        await requestAPI(
          `instances/${segment(instance.name)}/hostkey`,
          { method: 'POST', body: { fingerprint: key.fingerprint } },
          settings
        );
        return 'retry';
      case 'host_key_changed':
        await showHostKeyChanged(instance, key, trans);
        return 'stop';
      default:
        await showWorkbenchError(
          trans.__('Cannot log in to %1', instance.name),
          error,
          trans,
          DIAGNOSABLE.has(error.error)
            ? () =>
                requestAPI<Workbench.IDiagnosis>(
                  `instances/${segment(instance.name)}/diagnose`,
                  {},
                  settings
                )
            : undefined
        );
        return 'stop';
    }
  }
}
