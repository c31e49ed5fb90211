/**
 * The dialogs of the instance terminal: login, challenge, host key, errors.
 *
 * Every field carries a stable id or data attribute (`jp-workbench-…`) so
 * that browser tests can drive the dialogs.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import * as dom from './dom';
import { WorkbenchError } from './request';
import { Workbench } from './tokens';

/**
 * What the login dialog proposes: the answers of the last attempt, without
 * its secrets, and why it failed.
 */
export interface ILoginDefaults {
  username: string;
  method?: LoginMethod;
  keyPath?: string;
  error?: string;
}

/**
 * The kinds of secret the login dialog offers.
 */
export type LoginMethod =
  'password' | 'private_key' | 'key_path' | 'agent' | 'interactive';

/**
 * The login method of a request.
 */
export function loginMethod(request: Workbench.ILoginRequest): LoginMethod {
  if (request.private_key !== undefined) {
    return 'private_key';
  }
  if (request.key_path !== undefined) {
    return 'key_path';
  }
  if (request.agent) {
    return 'agent';
  }
  return request.password !== undefined ? 'password' : 'interactive';
}

/**
 * Ask for the user name and a secret to log in to an instance.
 *
 * @returns the login request, or `null` when cancelled.
 */
export async function askLogin(
  instance: Workbench.IInstance,
  options: ILoginDefaults,
  trans: TranslationBundle
): Promise<Workbench.ILoginRequest | null> {
  const body = new LoginBody(options, trans);
  const result = await showDialog({
    title: trans.__('Log in to %1', instance.name),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Log in') })
    ],
    focusNodeSelector: !options.username
      ? '#jp-workbench-login-username'
      : `#jp-workbench-login-${Private.focusOf[options.method ?? 'password']}`
  });
  return result.button.accept ? result.value : null;
}

/**
 * Show keyboard-interactive prompts and collect the responses.
 *
 * @returns the responses in prompt order, or `null` when cancelled.
 */
export async function askChallenge(
  instance: Workbench.IInstance,
  challenge: Workbench.IChallenge,
  trans: TranslationBundle
): Promise<string[] | null> {
  const body = new ChallengeBody(challenge, trans);
  const result = await showDialog({
    title: challenge.name || trans.__('Log in to %1', instance.name),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Send') })
    ],
    focusNodeSelector: '#jp-workbench-challenge-response-0'
  });
  return result.button.accept ? result.value : null;
}

/**
 * Show the key of an instance met for the first time and ask to trust it.
 *
 * @returns whether the user trusts the key.
 */
export async function confirmHostKey(
  instance: Workbench.IInstance,
  key: Workbench.IHostKeyDetails,
  trans: TranslationBundle
): Promise<boolean> {
  const address = Private.address(instance, key);
  const body = dom.node('div', 'jp-workbench-hostkey', [
    dom.node('p', '', [
      trans.__(
        'This is the first connection to %1. Before you trust it, check ' +
          'with its administrator that its host key has this fingerprint ' +
          '(ssh-keygen -l -f shows it on the host).',
        address
      )
    ]),
    dom.fields([
      [trans.__('Key type'), key.key_type ?? '', 'jp-workbench-hostkey-type'],
      [
        trans.__('Fingerprint'),
        key.fingerprint,
        'jp-workbench-hostkey-fingerprint'
      ]
    ])
  ]);
  body.dataset.workbenchDialog = 'hostkey-unknown';

  const result = await showDialog({
    title: trans.__('Unknown host key'),
    body: new Widget({ node: body }),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Trust and connect') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}

/**
 * Refuse the connection to an instance whose host key changed.
 */
export async function showHostKeyChanged(
  instance: Workbench.IInstance,
  key: Workbench.IHostKeyDetails,
  trans: TranslationBundle
): Promise<void> {
  const known = key.known_fingerprints ?? [];
  const body = dom.node('div', 'jp-workbench-hostkey', [
    dom.node('p', 'jp-workbench-warning', [
      trans.__(
        'The host key of %1 is not the one trusted before, so the ' +
          'connection was refused. Someone may be intercepting it, or the ' +
          'host was reinstalled. Ask its administrator; only when the new ' +
          'key is confirmed, remove the old one from the workbench ' +
          'known_hosts file and connect again.',
        Private.address(instance, key)
      )
    ]),
    dom.fields([
      [
        trans._n('Trusted fingerprint', 'Trusted fingerprints', known.length),
        known.join('\n'),
        'jp-workbench-hostkey-known'
      ],
      [
        trans.__('Presented fingerprint'),
        key.fingerprint,
        'jp-workbench-hostkey-fingerprint'
      ]
    ])
  ]);
  body.dataset.workbenchDialog = 'hostkey-changed';

  await showDialog({
    title: trans.__('Host key changed: connection refused'),
    body: new Widget({ node: body }),
    buttons: [Dialog.okButton({ label: trans.__('Close') })]
  });
}

/**
 * Show an error of the workbench API, or any other failure.
 *
 * @param diagnose - when given, a Diagnose button runs it and shows the
 *   steps of the connection (resolve, route, TCP, SSH, auth).
 */
export async function showWorkbenchError(
  title: string,
  reason: unknown,
  trans: TranslationBundle,
  diagnose?: () => Promise<Workbench.IDiagnosis>
): Promise<void> {
  const body = dom.node('div', 'jp-workbench-error', [
    Private.describeError(reason, trans)
  ]);
  body.id = 'jp-workbench-error';
  body.dataset.error =
    reason instanceof WorkbenchError ? reason.error : 'unexpected';

  const close = Dialog.okButton({ label: trans.__('Close') });
  const buttons = diagnose
    ? [
        Dialog.createButton({
          label: trans.__('Diagnose'),
          accept: false,
          actions: ['diagnose']
        }),
        close
      ]
    : [close];
  const result = await showDialog({
    title,
    body: new Widget({ node: body }),
    buttons,
    defaultButton: buttons.length - 1
  });
  if (diagnose && result.button.actions.includes('diagnose')) {
    await showDiagnosis(await diagnose(), trans);
  }
}

/**
 * Show the steps of a connection diagnosis, each with its outcome.
 */
export async function showDiagnosis(
  diagnosis: Workbench.IDiagnosis,
  trans: TranslationBundle
): Promise<void> {
  const list = dom.node('ol', 'jp-workbench-diagnosis', []);
  list.id = 'jp-workbench-diagnosis';
  for (const step of diagnosis.steps) {
    const outcome =
      step.ok === null ? 'skipped' : step.ok ? 'passed' : 'failed';
    const item = dom.node('li', `jp-workbench-step jp-mod-${outcome}`, [
      dom.node('span', 'jp-workbench-step-name', [step.step]),
      dom.node('span', 'jp-workbench-step-detail', [step.detail])
    ]);
    if (step.hint) {
      item.append(dom.node('span', 'jp-workbench-hint', [step.hint]));
    }
    item.dataset.step = step.step;
    item.dataset.outcome = outcome;
    list.appendChild(item);
  }

  await showDialog({
    title: diagnosis.ok
      ? trans.__('Diagnosis: every step passed')
      : trans.__('Diagnosis'),
    body: new Widget({ node: list }),
    buttons: [Dialog.okButton({ label: trans.__('Close') })]
  });
}

/**
 * The body of the login dialog.
 *
 * The method select shows the fields of one kind of secret at a time:
 * password, pasted (or loaded) private key, key file on the server, or the
 * server's ssh-agent.
 */
class LoginBody
  extends Widget
  implements Dialog.IBodyWidget<Workbench.ILoginRequest>
{
  constructor(options: ILoginDefaults, trans: TranslationBundle) {
    super();
    this.addClass('jp-workbench-login');

    if (options.error) {
      const message = dom.node('p', 'jp-workbench-error', [options.error]);
      message.id = 'jp-workbench-login-error';
      this.node.appendChild(message);
    }

    this._username = dom.input('jp-workbench-login-username', 'text');
    this._username.value = options.username;
    this._username.autocomplete = 'username';
    this._method = document.createElement('select');
    this._method.id = 'jp-workbench-login-method';
    this._method.className = 'jp-mod-styled';
    for (const [value, label] of [
      ['password', trans.__('Password')],
      ['private_key', trans.__('Private key')],
      ['key_path', trans.__('Key file on the server')],
      ['agent', trans.__("Server's ssh-agent")],
      ['interactive', trans.__('Prompts from the instance')]
    ]) {
      this._method.add(new Option(label, value));
    }
    this._method.value = options.method ?? 'password';
    this.node.dataset.method = this._method.value;
    this._method.addEventListener('change', () => {
      this.node.dataset.method = this._method.value;
    });

    this._password = dom.input('jp-workbench-login-password', 'password');
    this._password.autocomplete = 'current-password';
    this._key = document.createElement('textarea');
    this._key.id = 'jp-workbench-login-private-key';
    this._key.className = 'jp-mod-styled';
    this._key.rows = 5;
    this._key.spellcheck = false;
    this._key.placeholder = '-----BEGIN OPENSSH PRIVATE KEY-----';
    const keyFile = dom.input('jp-workbench-login-key-file', 'file');
    keyFile.addEventListener('change', async () => {
      const file = keyFile.files?.[0];
      this._key.value = file ? await file.text() : this._key.value;
    });
    this._keyPath = dom.input('jp-workbench-login-key-path', 'text');
    this._keyPath.placeholder = '~/.ssh/id_ed25519';
    this._keyPath.value = options.keyPath ?? '';
    this._passphrase = dom.input('jp-workbench-login-passphrase', 'password');
    this._passphrase.autocomplete = 'off';
    const hint = dom.node('p', 'jp-workbench-hint', [
      trans.__(
        'The server offers the keys of the ssh-agent it runs with ' +
          '(SSH_AUTH_SOCK).'
      )
    ]);
    hint.dataset.methods = 'agent';
    const prompts = dom.node('p', 'jp-workbench-hint', [
      trans.__(
        'The instance asks its own questions (a one-time code, for ' +
          'example) in the next dialog.'
      )
    ]);
    prompts.dataset.methods = 'interactive';

    this.node.append(
      dom.labelled(trans.__('User name'), this._username),
      dom.labelled(trans.__('Authenticate with'), this._method),
      dom.labelled(trans.__('Password'), this._password, 'password'),
      dom.labelled(trans.__('Private key'), this._key, 'private_key'),
      dom.labelled(trans.__('…or load it from a file'), keyFile, 'private_key'),
      dom.labelled(trans.__('Key file path'), this._keyPath, 'key_path'),
      dom.labelled(
        trans.__('Passphrase (for an encrypted key)'),
        this._passphrase,
        'private_key key_path'
      ),
      hint,
      prompts
    );
  }

  getValue(): Workbench.ILoginRequest {
    const request: Workbench.ILoginRequest = {
      username: this._username.value.trim()
    };
    switch (this._method.value) {
      case 'private_key':
        request.private_key = this._key.value;
        break;
      case 'key_path':
        request.key_path = this._keyPath.value.trim();
        break;
      case 'agent':
        request.agent = true;
        break;
      case 'interactive':
        // No secret: the instance's keyboard-interactive prompts follow.
        break;
      default:
        request.password = this._password.value;
    }
    if (request.private_key !== undefined || request.key_path !== undefined) {
      request.passphrase = this._passphrase.value || undefined;
    }
    return request;
  }

  private _username: HTMLInputElement;
  private _method: HTMLSelectElement;
  private _password: HTMLInputElement;
  private _key: HTMLTextAreaElement;
  private _keyPath: HTMLInputElement;
  private _passphrase: HTMLInputElement;
}

/**
 * The body of a keyboard-interactive challenge: one field per prompt.
 */
class ChallengeBody extends Widget implements Dialog.IBodyWidget<string[]> {
  constructor(challenge: Workbench.IChallenge, trans: TranslationBundle) {
    super();
    this.addClass('jp-workbench-challenge');
    if (challenge.instructions) {
      const text = dom.node('p', '', [challenge.instructions]);
      text.id = 'jp-workbench-challenge-instructions';
      this.node.appendChild(text);
    }
    if (challenge.prompts.length === 0) {
      this.node.appendChild(
        dom.node('p', '', [trans.__('The instance asks to continue.')])
      );
    }
    this._inputs = challenge.prompts.map((prompt, index) => {
      const input = dom.input(
        `jp-workbench-challenge-response-${index}`,
        prompt.echo ? 'text' : 'password'
      );
      input.autocomplete = 'off';
      this.node.appendChild(dom.labelled(prompt.prompt, input));
      return input;
    });
  }

  getValue(): string[] {
    return this._inputs.map(input => input.value);
  }

  private _inputs: HTMLInputElement[];
}

namespace Private {
  /**
   * The field that takes the focus for each login method.
   */
  export const focusOf: Record<LoginMethod, string> = {
    password: 'password',
    private_key: 'private-key',
    key_path: 'key-path',
    agent: 'method',
    interactive: 'method'
  };

  /**
   * The sentence to show for a failure.
   *
   * API errors carry the server's sentence; a failure to reach the server
   * at all gets one of ours.
   */
  export function describeError(
    reason: unknown,
    trans: TranslationBundle
  ): string {
    if (reason instanceof WorkbenchError && reason.error === 'network') {
      return trans.__(
        'Cannot reach the Jupyter server (%1): check that it is running ' +
          'and reload the page.',
        reason.message
      );
    }
    return reason instanceof Error ? reason.message : String(reason ?? '');
  }

  /**
   * `host:port` of the key's host, or the instance's.
   */
  export function address(
    instance: Workbench.IInstance,
    key: Workbench.IHostKeyDetails
  ): string {
    return `${key.host ?? instance.host}:${key.port ?? instance.port}`;
  }
}
