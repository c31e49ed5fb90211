/**
 * The dialogs of the instance terminal: picker, login, challenge, host key.
 *
 * Every field carries a stable id or data attribute (`jp-workbench-…`) so
 * that browser tests can drive the dialogs.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { WorkbenchError } from './request';
import { Workbench } from './tokens';

/**
 * What the user picked: a new terminal on an instance, or an open one.
 */
export type Pick =
  { instance: Workbench.IInstance } | { terminal: Workbench.ITerminal };

/**
 * Ask which instance to open a terminal on.
 *
 * @param instances - the SSH instances to offer.
 * @param terminals - running terminals that can be attached to.
 * @returns the pick, or `null` when cancelled.
 */
export async function pickInstance(
  instances: Workbench.IInstance[],
  terminals: Workbench.ITerminal[],
  trans: TranslationBundle
): Promise<Pick | null> {
  const body = new PickerBody(instances, terminals, trans);
  const result = await showDialog({
    title: trans.__('Instance Terminal'),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Open') })
    ],
    focusNodeSelector: '#jp-workbench-picker-filter'
  });
  return result.button.accept ? result.value : null;
}

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
  const body = Private.node('div', 'jp-workbench-hostkey', [
    Private.node('p', '', [
      trans.__(
        'This is the first connection to %1. Before you trust it, check ' +
          'with its administrator that its host key has this fingerprint ' +
          '(ssh-keygen -l -f shows it on the host).',
        address
      )
    ]),
    Private.fields([
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
  const body = Private.node('div', 'jp-workbench-hostkey', [
    Private.node('p', 'jp-workbench-warning', [
      trans.__(
        'The host key of %1 is not the one trusted before, so the ' +
          'connection was refused. Someone may be intercepting it, or the ' +
          'host was reinstalled. Ask its administrator; only when the new ' +
          'key is confirmed, remove the old one from the workbench ' +
          'known_hosts file and connect again.',
        Private.address(instance, key)
      )
    ]),
    Private.fields([
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
  const message =
    reason instanceof Error ? reason.message : String(reason ?? '');
  const body = Private.node('div', 'jp-workbench-error', [message]);
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
  const list = Private.node('ol', 'jp-workbench-diagnosis', []);
  list.id = 'jp-workbench-diagnosis';
  for (const step of diagnosis.steps) {
    const outcome =
      step.ok === null ? 'skipped' : step.ok ? 'passed' : 'failed';
    const item = Private.node('li', `jp-workbench-step jp-mod-${outcome}`, [
      Private.node('span', 'jp-workbench-step-name', [step.step]),
      Private.node('span', 'jp-workbench-step-detail', [step.detail])
    ]);
    if (step.hint) {
      item.append(Private.node('span', 'jp-workbench-hint', [step.hint]));
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
 * The body of the instance picker: a filter and a list of radio rows.
 */
class PickerBody extends Widget implements Dialog.IBodyWidget<Pick | null> {
  constructor(
    instances: Workbench.IInstance[],
    terminals: Workbench.ITerminal[],
    trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-workbench-picker');
    this._instances = instances;
    this._terminals = terminals;

    const filter = document.createElement('input');
    filter.id = 'jp-workbench-picker-filter';
    filter.type = 'search';
    filter.className = 'jp-mod-styled';
    filter.placeholder = trans.__('Filter by name, host or tag');
    filter.addEventListener('input', () => this._filter(filter.value));
    filter.addEventListener('keydown', event => this._move(event));
    this.node.appendChild(filter);

    const list = Private.node('div', 'jp-workbench-picker-list', []);
    list.setAttribute('role', 'radiogroup');
    instances.forEach((instance, index) => {
      const row = Private.radioRow(`instance:${index}`, [
        Private.node('span', 'jp-workbench-picker-name', [instance.name]),
        Private.node('span', 'jp-workbench-picker-detail', [
          Private.describe(instance, trans)
        ])
      ]);
      row.dataset.instance = instance.name;
      row.dataset.search = Private.searchText(instance);
      list.appendChild(row);
    });
    if (terminals.length > 0) {
      list.appendChild(
        Private.node('div', 'jp-workbench-picker-heading', [
          trans.__('Running terminals')
        ])
      );
    }
    terminals.forEach((terminal, index) => {
      const row = Private.radioRow(`terminal:${index}`, [
        Private.node('span', 'jp-workbench-picker-name', [
          trans.__('%1 terminal', terminal.instance)
        ]),
        Private.node('span', 'jp-workbench-picker-detail', [
          trans.__(
            '%1, started %2',
            terminal.login_user,
            new Date(terminal.created).toLocaleString()
          )
        ])
      ]);
      row.dataset.terminal = terminal.id;
      row.dataset.search = terminal.instance.toLowerCase();
      list.appendChild(row);
    });
    this.node.appendChild(list);

    const first = list.querySelector('input');
    if (first) {
      first.checked = true;
    }
  }

  getValue(): Pick | null {
    const checked = this.node.querySelector<HTMLInputElement>(
      'input[type=radio]:checked'
    );
    const [kind, index] = (checked?.value ?? '').split(':');
    if (kind === 'instance') {
      return { instance: this._instances[Number(index)] };
    }
    if (kind === 'terminal') {
      return { terminal: this._terminals[Number(index)] };
    }
    return null;
  }

  /**
   * Hide the rows that do not match, and select the first visible one.
   */
  private _filter(text: string): void {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    let first: HTMLInputElement | null = null;
    for (const row of this.node.querySelectorAll<HTMLElement>(
      '.jp-workbench-picker-row'
    )) {
      const search = row.dataset.search ?? '';
      const visible = words.every(word => search.includes(word));
      row.hidden = !visible;
      first = first ?? (visible ? row.querySelector('input') : null);
    }
    if (first) {
      first.checked = true;
    }
  }

  /**
   * Move the selection with the arrow keys while typing in the filter.
   */
  private _move(event: KeyboardEvent): void {
    const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
    if (!step) {
      return;
    }
    event.preventDefault();
    const radios = [
      ...this.node.querySelectorAll<HTMLInputElement>(
        '.jp-workbench-picker-row:not([hidden]) input'
      )
    ];
    const current = radios.findIndex(radio => radio.checked);
    const next = radios[current + step];
    if (next) {
      next.checked = true;
      next.scrollIntoView({ block: 'nearest' });
    }
  }

  private _instances: Workbench.IInstance[];
  private _terminals: Workbench.ITerminal[];
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
      const message = Private.node('p', 'jp-workbench-error', [options.error]);
      message.id = 'jp-workbench-login-error';
      this.node.appendChild(message);
    }

    this._username = Private.input('jp-workbench-login-username', 'text');
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

    this._password = Private.input('jp-workbench-login-password', 'password');
    this._password.autocomplete = 'current-password';
    this._key = document.createElement('textarea');
    this._key.id = 'jp-workbench-login-private-key';
    this._key.className = 'jp-mod-styled';
    this._key.rows = 5;
    this._key.spellcheck = false;
    this._key.placeholder = '-----BEGIN OPENSSH PRIVATE KEY-----';
    const keyFile = Private.input('jp-workbench-login-key-file', 'file');
    keyFile.addEventListener('change', async () => {
      const file = keyFile.files?.[0];
      this._key.value = file ? await file.text() : this._key.value;
    });
    this._keyPath = Private.input('jp-workbench-login-key-path', 'text');
    this._keyPath.placeholder = '~/.ssh/id_ed25519';
    this._keyPath.value = options.keyPath ?? '';
    this._passphrase = Private.input(
      'jp-workbench-login-passphrase',
      'password'
    );
    this._passphrase.autocomplete = 'off';
    const hint = Private.node('p', 'jp-workbench-hint', [
      trans.__(
        'The server offers the keys of the ssh-agent it runs with ' +
          '(SSH_AUTH_SOCK).'
      )
    ]);
    hint.dataset.methods = 'agent';
    const prompts = Private.node('p', 'jp-workbench-hint', [
      trans.__(
        'The instance asks its own questions (a one-time code, for ' +
          'example) in the next dialog.'
      )
    ]);
    prompts.dataset.methods = 'interactive';

    this.node.append(
      Private.labelled(trans.__('User name'), this._username),
      Private.labelled(trans.__('Authenticate with'), this._method),
      Private.labelled(trans.__('Password'), this._password, 'password'),
      Private.labelled(trans.__('Private key'), this._key, 'private_key'),
      Private.labelled(
        trans.__('…or load it from a file'),
        keyFile,
        'private_key'
      ),
      Private.labelled(trans.__('Key file path'), this._keyPath, 'key_path'),
      Private.labelled(
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
      const text = Private.node('p', '', [challenge.instructions]);
      text.id = 'jp-workbench-challenge-instructions';
      this.node.appendChild(text);
    }
    if (challenge.prompts.length === 0) {
      this.node.appendChild(
        Private.node('p', '', [trans.__('The instance asks to continue.')])
      );
    }
    this._inputs = challenge.prompts.map((prompt, index) => {
      const input = Private.input(
        `jp-workbench-challenge-response-${index}`,
        prompt.echo ? 'text' : 'password'
      );
      input.autocomplete = 'off';
      this.node.appendChild(Private.labelled(prompt.prompt, input));
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
   * Create an element with a class and children.
   */
  export function node(
    tag: string,
    className: string,
    children: (Node | string)[]
  ): HTMLElement {
    const element = document.createElement(tag);
    element.className = className;
    element.append(...children);
    return element;
  }

  /**
   * Create a styled input.
   */
  export function input(id: string, type: string): HTMLInputElement {
    const element = document.createElement('input');
    element.id = id;
    element.type = type;
    element.className = 'jp-mod-styled';
    return element;
  }

  /**
   * Wrap a field in a label; `methods` shows it for those login methods.
   */
  export function labelled(
    text: string,
    field: HTMLElement,
    methods = ''
  ): HTMLElement {
    const label = node('label', 'jp-workbench-field', [
      node('span', 'jp-workbench-label', [text]),
      field
    ]);
    if (methods) {
      label.dataset.methods = methods;
    }
    return label;
  }

  /**
   * A radio row of the picker.
   */
  export function radioRow(value: string, children: Node[]): HTMLElement {
    const radio = document.createElement('input');
    radio.type = 'radio';
    radio.name = 'jp-workbench-pick';
    radio.value = value;
    return node('label', 'jp-workbench-picker-row', [radio, ...children]);
  }

  /**
   * A definition list of read-only values, each with an id.
   */
  export function fields(rows: [string, string, string][]): HTMLElement {
    const list = node('dl', 'jp-workbench-fields', []);
    for (const [term, value, id] of rows) {
      const code = node('code', '', [value]);
      code.id = id;
      list.append(node('dt', '', [term]), node('dd', '', [code]));
    }
    return list;
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

  /**
   * One line about an instance: login, address and state.
   */
  export function describe(
    instance: Workbench.IInstance,
    trans: TranslationBundle
  ): string {
    const user = instance.login_user ?? instance.user;
    const target = `${user ? user + '@' : ''}${instance.host}:${instance.port}`;
    const parts = [target];
    if (instance.demo) {
      parts.push(trans.__('demo'));
    }
    if (instance.logged_in) {
      parts.push(trans.__('logged in'));
    }
    return parts.join(' · ');
  }

  /**
   * The lower-case text that the picker filter matches.
   */
  export function searchText(instance: Workbench.IInstance): string {
    const tags = Object.entries(instance.tags ?? {}).map(
      ([key, value]) => `${key}=${value}`
    );
    return [instance.name, instance.id, instance.host, instance.region, ...tags]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
  }
}
