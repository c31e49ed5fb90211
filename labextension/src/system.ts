/**
 * System management of an instance: a panel with Users, Logons and
 * Services tabs, sortable and filterable tables, and confirmed actions.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, MainAreaWidget, showDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { showWorkbenchError } from './dialogs';
import * as dom from './dom';
import { logIn } from './login';
import { pickInstance } from './picker';
import { requestAPI, segment, WorkbenchError } from './request';
import { Workbench } from './tokens';

/**
 * The command that opens the system management panel of an instance.
 */
export const MANAGE_INSTANCE_COMMAND = 'workbench:manage-instance';

/**
 * The records of the system management API (docs/api.md).
 */
export namespace SystemAPI {
  /**
   * An account of the instance; `null` where it could not be read.
   */
  export interface IUser {
    name: string;
    uid: number;
    groups: string[];
    shell: string;
    home: string;
    locked: boolean | null;
    has_password: boolean | null;
    sudo: boolean | null;
    last_login: string | null;
    last_login_from: string | null;
    system: boolean;
  }

  /**
   * A line of the logon history.
   */
  export interface ILogon {
    user: string;
    terminal: string;
    source: string | null;
    start: string;
    end: string | null;
    duration: number | null;
    still_logged_in: boolean;
    kind: string;
    ended: string | null;
  }

  /**
   * A user logged in now.
   */
  export interface ISession {
    user: string;
    terminal: string;
    since: string | null;
    source: string | null;
  }

  /**
   * A service with its state and boot setting.
   */
  export interface IService {
    name: string;
    active: string;
    sub: string;
    enabled: string | null;
    description: string;
    manager: string;
  }

  /**
   * What the instance is and which rights the login has.
   */
  export interface IFacts {
    pretty_name: string;
    family: string;
    init: string;
    privilege: string;
    login_user: string;
  }
}

/**
 * Register the "Manage Instance…" command, in the context menu of
 * instance terminals too.
 *
 * @returns the command id, for the palette.
 */
export function addSystemCommand(
  app: JupyterFrontEnd,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): string {
  const open = new Map<string, MainAreaWidget<SystemPanel>>();
  app.commands.addCommand(MANAGE_INSTANCE_COMMAND, {
    label: args =>
      args.instance
        ? trans.__('Manage %1…', args.instance as string)
        : trans.__('Manage Instance…'),
    caption: trans.__('Users, logon history and services of an instance'),
    execute: async args => {
      // From the context menu of a terminal panel: that panel's instance.
      const instance = args.fromContextMenu
        ? app.contextMenuHitTest(node => !!node.dataset.instance)?.dataset
            .instance
        : (args.instance as string | undefined);
      try {
        return await openSystem(app, instance, open, settings, trans);
      } catch (reason) {
        await showWorkbenchError(
          trans.__('Cannot manage the instance'),
          reason,
          trans
        );
        return null;
      }
    }
  });
  app.contextMenu.addItem({
    command: MANAGE_INSTANCE_COMMAND,
    selector: '.jp-workbench-terminal',
    args: { fromContextMenu: true },
    rank: 100
  });
  return MANAGE_INSTANCE_COMMAND;
}

/**
 * Pick an SSH instance (unless named), log in if needed, show its panel.
 */
async function openSystem(
  app: JupyterFrontEnd,
  name: string | undefined,
  open: Map<string, MainAreaWidget<SystemPanel>>,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): Promise<MainAreaWidget<SystemPanel> | null> {
  const { instances } = await requestAPI<{
    instances: Workbench.IInstance[];
  }>('instances', {}, settings);
  const ssh = instances.filter(i => (i.protocol ?? 'ssh') === 'ssh');
  let instance = ssh.find(i => i.name === name);
  if (!instance) {
    const pick = await pickInstance(
      ssh,
      [],
      trans,
      trans.__('Manage Instance')
    );
    if (!pick || !('instance' in pick)) {
      return null;
    }
    instance = pick.instance;
  }
  if (!instance.logged_in && !(await logIn(instance, settings, trans))) {
    return null;
  }

  const existing = open.get(instance.name);
  if (existing && !existing.isDisposed) {
    app.shell.activateById(existing.id);
    return existing;
  }
  const content = new SystemPanel(instance.name, settings, trans);
  const panel = new MainAreaWidget<SystemPanel>({ content });
  panel.id = `jp-workbench-system-${Private.nextId()}`;
  panel.addClass('jp-workbench-system-panel');
  panel.node.dataset.instance = instance.name;
  panel.title.label = trans.__('%1 system', instance.name);
  panel.title.closable = true;
  open.set(instance.name, panel);
  panel.disposed.connect(() => open.delete(instance.name));
  app.shell.add(panel, 'main');
  app.shell.activateById(panel.id);
  void content.load();
  return panel;
}

/**
 * A column of a table: its label, the text of a cell, a sort key.
 */
interface IColumn<T> {
  key: string;
  label: string;
  text: (row: T) => string;
  sort?: (row: T) => string | number;
}

/**
 * An action on a row, with the question asked before it runs.
 */
interface IRowAction<T> {
  label: string;
  confirm: (row: T) => string;
  run: (row: T) => Promise<unknown>;
}

/**
 * A sortable, filterable table with confirmed row actions.
 */
export class TableView<T> extends Widget {
  constructor(
    readonly kind: string,
    private _columns: IColumn<T>[],
    private _actions: (row: T) => IRowAction<T>[],
    private _panel: SystemPanel,
    trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-workbench-table');
    this.node.dataset.kind = kind;
    this._filter = dom.input(`jp-workbench-${kind}-filter`, 'search');
    this._filter.placeholder = trans.__('Filter');
    this._filter.setAttribute('aria-label', trans.__('Filter the rows'));
    this._filter.addEventListener('input', () => this.render());
    this._table = document.createElement('table');
    this.node.append(this._filter, this._table);
    this._trans = trans;
  }

  /**
   * Show new rows, keeping the sort and the filter.
   */
  setRows(rows: T[]): void {
    this._rows = rows;
    this.render();
  }

  /**
   * Draw the header and the rows that pass the filter, sorted.
   */
  render(): void {
    const needle = this._filter.value.trim().toLowerCase();
    const shown = this._rows.filter(
      row =>
        !needle ||
        this._columns.some(c => c.text(row).toLowerCase().includes(needle))
    );
    const column = this._columns.find(c => c.key === this._sortKey);
    if (column) {
      const key = column.sort ?? column.text;
      shown.sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        return (x < y ? -1 : x > y ? 1 : 0) * this._sortDirection;
      });
    }

    const head = document.createElement('tr');
    for (const c of this._columns) {
      const th = dom.node('th', '', [c.label]);
      th.dataset.key = c.key;
      th.tabIndex = 0;
      th.setAttribute(
        'aria-sort',
        c.key !== this._sortKey
          ? 'none'
          : this._sortDirection > 0
            ? 'ascending'
            : 'descending'
      );
      const sortBy = () => this._sortBy(c.key);
      th.addEventListener('click', sortBy);
      th.addEventListener('keydown', event => {
        if (event.key === 'Enter') {
          sortBy();
        }
      });
      head.append(th);
    }
    head.append(dom.node('th', '', [this._trans.__('Actions')]));

    const body = document.createElement('tbody');
    for (const row of shown) {
      const tr = document.createElement('tr');
      for (const c of this._columns) {
        const td = dom.node('td', '', [c.text(row)]);
        td.dataset.key = c.key;
        tr.append(td);
      }
      const cell = dom.node('td', 'jp-workbench-actions', []);
      for (const action of this._actions(row)) {
        const button = dom.node('button', 'jp-mod-styled jp-mod-reject', [
          action.label
        ]);
        button.dataset.action = action.label;
        button.addEventListener('click', () => {
          void this._panel.change(action.confirm(row), () => action.run(row));
        });
        cell.append(button);
      }
      tr.append(cell);
      body.append(tr);
    }
    const thead = document.createElement('thead');
    thead.append(head);
    this._table.replaceChildren(thead, body);
    this.node.dataset.rows = String(shown.length);
  }

  private _sortBy(key: string): void {
    this._sortDirection = key === this._sortKey ? -this._sortDirection : 1;
    this._sortKey = key;
    this.render();
  }

  private _filter: HTMLInputElement;
  private _table: HTMLTableElement;
  private _rows: T[] = [];
  private _sortKey = '';
  private _sortDirection = 1;
  private _trans: TranslationBundle;
}

/**
 * The system management panel of one instance.
 */
export class SystemPanel extends Widget {
  constructor(
    readonly instance: string,
    private _settings: ServerConnection.ISettings,
    private _trans: TranslationBundle
  ) {
    super();
    const trans = _trans;
    this.addClass('jp-workbench-system');
    this.node.dataset.instance = instance;

    this._facts = dom.node('p', 'jp-workbench-system-facts', []);
    const tabs = dom.node('div', 'jp-workbench-system-tabs', []);
    tabs.setAttribute('role', 'tablist');
    this._users = this._usersView();
    this._logons = this._logonsView();
    this._services = this._servicesView();
    const views: [string, string, Widget][] = [
      ['users', trans.__('Users'), this._users],
      ['logons', trans.__('Logons'), this._logonsBox],
      ['services', trans.__('Services'), this._services]
    ];
    this._toolbar = dom.node('div', 'jp-workbench-system-toolbar', []);
    this.node.append(this._facts, tabs, this._toolbar);
    for (const [key, label, view] of views) {
      const tab = dom.node('button', 'jp-workbench-system-tab', [label]);
      tab.setAttribute('role', 'tab');
      tab.dataset.tab = key;
      tab.addEventListener('click', () => this.showTab(key));
      tabs.append(tab);
      view.node.dataset.tab = key;
      this.node.append(view.node);
    }
    this.showTab('users');
  }

  /**
   * Read the facts and the current tab's rows.
   */
  async load(): Promise<void> {
    try {
      const facts = await this._api<SystemAPI.IFacts>('');
      this._facts.textContent = this._trans.__(
        '%1 · init: %2 · rights: %3 (as %4)',
        facts.pretty_name,
        facts.init,
        facts.privilege,
        facts.login_user
      );
    } catch (reason) {
      this._facts.textContent = String((reason as Error).message ?? reason);
    }
    await this.refresh();
  }

  /**
   * Show a tab and load its rows.
   */
  showTab(tab: string): void {
    this._tab = tab;
    for (const node of this.node.querySelectorAll<HTMLElement>('[data-tab]')) {
      const selected = node.dataset.tab === tab;
      if (node.classList.contains('jp-workbench-system-tab')) {
        node.setAttribute('aria-selected', String(selected));
      } else {
        node.hidden = !selected;
      }
    }
    this._fillToolbar();
    if (this.isAttached) {
      void this.refresh();
    }
  }

  /**
   * Reload the rows of the current tab.
   */
  async refresh(): Promise<void> {
    this.node.dataset.state = 'loading';
    try {
      if (this._tab === 'users') {
        const { users } = await this._api<{ users: SystemAPI.IUser[] }>(
          '/users'
        );
        this._users.setRows(users);
      } else if (this._tab === 'logons') {
        await this._loadLogons();
      } else {
        const { services } = await this._api<{
          services: SystemAPI.IService[];
        }>('/services');
        this._services.setRows(services);
      }
      this.node.dataset.state = 'ready';
    } catch (reason) {
      this.node.dataset.state = 'error';
      await this._showError(this._trans.__('Cannot read the instance'), reason);
    }
  }

  /**
   * Ask for confirmation, run a change, then reload the tab.
   *
   * When sudo asks for a password, it is asked for, held by the server
   * for this login, and the change is tried once more.
   */
  async change(
    question: string,
    run: () => Promise<unknown>
  ): Promise<boolean> {
    const answer = await showDialog({
      title: this._trans.__('Confirm'),
      body: question,
      buttons: [
        Dialog.cancelButton({ label: this._trans.__('Cancel') }),
        Dialog.warnButton({ label: this._trans.__('Do it') })
      ]
    });
    if (!answer.button.accept) {
      return false;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await run();
        break;
      } catch (reason) {
        const needsSudo =
          reason instanceof WorkbenchError &&
          reason.error === 'sudo_required' &&
          attempt === 0;
        if (!needsSudo || !(await this._askSudoPassword())) {
          await this._showError(this._trans.__('The change failed'), reason);
          return false;
        }
      }
    }
    await this.refresh();
    return true;
  }

  private _usersView(): TableView<SystemAPI.IUser> {
    const t = this._trans;
    const user = (u: SystemAPI.IUser) => `/users/${segment(u.name)}`;
    return new TableView<SystemAPI.IUser>(
      'users',
      [
        { key: 'name', label: t.__('Name'), text: u => u.name },
        {
          key: 'uid',
          label: t.__('UID'),
          text: u => String(u.uid),
          sort: u => u.uid
        },
        {
          key: 'groups',
          label: t.__('Groups'),
          text: u => u.groups.join(', ')
        },
        { key: 'shell', label: t.__('Shell'), text: u => u.shell },
        { key: 'home', label: t.__('Home'), text: u => u.home },
        {
          key: 'locked',
          label: t.__('Locked'),
          text: u => Private.yesNo(u.locked, t)
        },
        {
          key: 'password',
          label: t.__('Password'),
          text: u => Private.yesNo(u.has_password, t)
        },
        {
          key: 'sudo',
          label: t.__('Sudo'),
          text: u => Private.yesNo(u.sudo, t)
        },
        {
          key: 'last_login',
          label: t.__('Last login'),
          text: u =>
            u.last_login
              ? `${Private.when(u.last_login)} ${u.last_login_from ?? ''}`.trim()
              : ''
        }
      ],
      u =>
        u.uid === 0
          ? []
          : [
              u.locked
                ? {
                    label: t.__('Unlock'),
                    confirm: () => t.__('Unlock the account %1?', u.name),
                    run: () => this._post(`${user(u)}/unlock`)
                  }
                : {
                    label: t.__('Lock'),
                    confirm: () =>
                      t.__(
                        'Lock the account %1? Its password and key logins stop working.',
                        u.name
                      ),
                    run: () => this._post(`${user(u)}/lock`)
                  },
              {
                label: t.__('Password…'),
                confirm: () => t.__('Set a new password for %1?', u.name),
                run: async () => {
                  const password = await Private.askSecret(
                    t.__('New password for %1', u.name),
                    t
                  );
                  if (password) {
                    await this._post(`${user(u)}/password`, { password });
                  }
                }
              },
              u.sudo
                ? {
                    label: t.__('Revoke sudo'),
                    confirm: () =>
                      t.__('Take the sudo rights of %1 away?', u.name),
                    run: () => this._post(`${user(u)}/revoke-sudo`)
                  }
                : {
                    label: t.__('Grant sudo'),
                    confirm: () =>
                      t.__(
                        'Give %1 sudo rights (the sudo or wheel group)?',
                        u.name
                      ),
                    run: () => this._post(`${user(u)}/grant-sudo`)
                  },
              {
                label: t.__('Delete…'),
                confirm: () =>
                  t.__(
                    'Delete the account %1? Its home folder is kept.',
                    u.name
                  ),
                run: () => this._api(user(u), { method: 'DELETE' })
              }
            ],
      this,
      t
    );
  }

  private _logonsView(): TableView<SystemAPI.ILogon> {
    const t = this._trans;
    const table = new TableView<SystemAPI.ILogon>(
      'logons',
      [
        { key: 'user', label: t.__('User'), text: r => r.user },
        { key: 'kind', label: t.__('Kind'), text: r => r.kind },
        { key: 'terminal', label: t.__('Terminal'), text: r => r.terminal },
        { key: 'source', label: t.__('Source'), text: r => r.source ?? '' },
        {
          key: 'start',
          label: t.__('Start'),
          text: r => Private.when(r.start),
          sort: r => r.start
        },
        {
          key: 'end',
          label: t.__('End'),
          text: r =>
            r.still_logged_in
              ? t.__('still logged in')
              : r.end
                ? Private.when(r.end)
                : (r.ended ?? '')
        },
        {
          key: 'duration',
          label: t.__('Duration'),
          text: r => Private.duration(r.duration),
          sort: r => r.duration ?? -1
        }
      ],
      () => [],
      this,
      t
    );
    this._sessions = dom.node('p', 'jp-workbench-system-sessions', []);
    this._logonFilters = {
      user: dom.input('jp-workbench-logons-user', 'text'),
      source: dom.input('jp-workbench-logons-source', 'text'),
      since: dom.input('jp-workbench-logons-since', 'datetime-local'),
      failed: dom.input('jp-workbench-logons-failed', 'checkbox')
    };
    this._logonFilters.failed.checked = true;
    this._logonFilters.source.placeholder = '10.0.0.0/8';
    const form = dom.node('div', 'jp-workbench-system-filters', [
      dom.labelled(t.__('User'), this._logonFilters.user),
      dom.labelled(t.__('Source'), this._logonFilters.source),
      dom.labelled(t.__('Since'), this._logonFilters.since),
      dom.labelled(t.__('Failed logins'), this._logonFilters.failed)
    ]);
    for (const field of Object.values(this._logonFilters)) {
      field.addEventListener('change', () => void this.refresh());
    }
    this._logonsBox = new Widget();
    this._logonsBox.addClass('jp-workbench-system-logons');
    this._logonsBox.node.append(form, this._sessions, table.node);
    return table;
  }

  private async _loadLogons(): Promise<void> {
    const f = this._logonFilters;
    const query = new URLSearchParams();
    if (f.user.value.trim()) {
      query.set('user', f.user.value.trim());
    }
    if (f.source.value.trim()) {
      query.set('source', f.source.value.trim());
    }
    if (f.since.value) {
      query.set('since', new Date(f.since.value).toISOString());
    }
    query.set('failed', f.failed.checked ? '1' : '0');
    const answer = await this._api<{
      records: SystemAPI.ILogon[];
      sessions: SystemAPI.ISession[] | null;
    }>(`/logons?${query}`);
    this._logons.setRows(answer.records);
    const now = answer.sessions ?? [];
    this._sessions.textContent = now.length
      ? this._trans.__(
          'Logged in now: %1',
          now
            .map(
              s => `${s.user} (${s.terminal}${s.source ? `, ${s.source}` : ''})`
            )
            .join('; ')
        )
      : this._trans.__(
          'Nobody is logged in now (or the instance keeps no utmp).'
        );
  }

  private _servicesView(): TableView<SystemAPI.IService> {
    const t = this._trans;
    const path = (s: SystemAPI.IService, action: string) =>
      `/services/${segment(s.name)}/${action}`;
    const verbs: [string, string][] = [
      ['start', t.__('Start')],
      ['stop', t.__('Stop')],
      ['restart', t.__('Restart')],
      ['reload', t.__('Reload')],
      ['enable', t.__('Enable')],
      ['disable', t.__('Disable')]
    ];
    return new TableView<SystemAPI.IService>(
      'services',
      [
        { key: 'name', label: t.__('Service'), text: s => s.name },
        { key: 'active', label: t.__('State'), text: s => s.active },
        { key: 'sub', label: t.__('Detail'), text: s => s.sub },
        { key: 'enabled', label: t.__('At boot'), text: s => s.enabled ?? '' },
        {
          key: 'description',
          label: t.__('Description'),
          text: s => s.description
        }
      ],
      s => [
        ...verbs
          .filter(([verb]) =>
            s.active === 'active'
              ? verb !== 'start'
              : !['stop', 'reload'].includes(verb)
          )
          .filter(([verb]) =>
            s.enabled === 'enabled' ? verb !== 'enable' : verb !== 'disable'
          )
          .map(([verb, label]) => ({
            label,
            confirm: () =>
              t.__('%1 the service %2 on %3?', label, s.name, this.instance),
            run: () => this._post(path(s, verb))
          })),
        {
          label: t.__('Status…'),
          confirm: () =>
            t.__('Read the status and latest log lines of %1?', s.name),
          run: () => this._showStatus(s)
        }
      ],
      this,
      t
    );
  }

  private async _showStatus(service: SystemAPI.IService): Promise<void> {
    const status = await this._api<{ status_text: string; log: string[] }>(
      `/services/${segment(service.name)}?lines=50`
    );
    const text = [status.status_text, '', ...status.log].join('\n');
    const body = dom.node('pre', 'jp-workbench-system-status', [text]);
    await showDialog({
      title: this._trans.__('%1 on %2', service.name, this.instance),
      body: new Widget({ node: body }),
      buttons: [Dialog.okButton({ label: this._trans.__('Close') })]
    });
  }

  private _fillToolbar(): void {
    const t = this._trans;
    const refresh = dom.node('button', 'jp-mod-styled', [t.__('Refresh')]);
    refresh.dataset.action = 'refresh';
    refresh.addEventListener('click', () => void this.refresh());
    const buttons = [refresh];
    if (this._tab === 'users') {
      const create = dom.node('button', 'jp-mod-styled jp-mod-accept', [
        t.__('New user…')
      ]);
      create.dataset.action = 'create';
      create.addEventListener('click', () => void this._createUser());
      buttons.unshift(create);
    }
    this._toolbar.replaceChildren(...buttons);
  }

  private async _createUser(): Promise<void> {
    const t = this._trans;
    const fields = {
      name: dom.input('jp-workbench-user-name', 'text'),
      shell: dom.input('jp-workbench-user-shell', 'text'),
      groups: dom.input('jp-workbench-user-groups', 'text'),
      key: dom.input('jp-workbench-user-key', 'text'),
      home: dom.input('jp-workbench-user-home', 'checkbox')
    };
    fields.shell.value = '/bin/bash';
    fields.home.checked = true;
    fields.groups.placeholder = t.__('comma-separated, optional');
    fields.key.placeholder = 'ssh-ed25519 AAAA… (optional)';
    const body = dom.node('div', 'jp-workbench-login', [
      dom.labelled(t.__('User name'), fields.name),
      dom.labelled(t.__('Login shell'), fields.shell),
      dom.labelled(t.__('Groups'), fields.groups),
      dom.labelled(t.__('Authorized key'), fields.key),
      dom.labelled(t.__('Create a home folder'), fields.home)
    ]);
    const answer = await showDialog({
      title: t.__('New user on %1', this.instance),
      body: new Widget({ node: body }),
      buttons: [
        Dialog.cancelButton({ label: t.__('Cancel') }),
        Dialog.okButton({ label: t.__('Create') })
      ],
      focusNodeSelector: '#jp-workbench-user-name'
    });
    if (!answer.button.accept) {
      return;
    }
    const request = {
      name: fields.name.value.trim(),
      shell: fields.shell.value.trim() || undefined,
      home: fields.home.checked,
      groups: fields.groups.value
        .split(',')
        .map(g => g.trim())
        .filter(Boolean),
      authorized_key: fields.key.value.trim() || undefined
    };
    await this.change(t.__('Create the account %1?', request.name), () =>
      this._api('/users', { method: 'POST', body: request })
    );
  }

  private async _askSudoPassword(): Promise<boolean> {
    const t = this._trans;
    const password = await Private.askSecret(
      t.__('sudo on %1 asks for a password', this.instance),
      t
    );
    if (!password) {
      return false;
    }
    await this._api('/sudo', { method: 'PUT', body: { password } });
    return true;
  }

  private _post(path: string, body: unknown = {}): Promise<unknown> {
    return this._api(path, { method: 'POST', body });
  }

  private _api<T>(
    path: string,
    init: Omit<RequestInit, 'body'> & { body?: unknown } = {}
  ): Promise<T> {
    const base = `instances/${segment(this.instance)}/system`;
    return requestAPI<T>(base + path, init, this._settings);
  }

  private _showError(title: string, reason: unknown): Promise<void> {
    return showWorkbenchError(title, reason, this._trans);
  }

  private _facts: HTMLElement;
  private _toolbar: HTMLElement;
  private _users: TableView<SystemAPI.IUser>;
  private _logons: TableView<SystemAPI.ILogon>;
  private _logonsBox!: Widget;
  private _logonFilters!: Record<
    'user' | 'source' | 'since' | 'failed',
    HTMLInputElement
  >;
  private _sessions!: HTMLElement;
  private _services: TableView<SystemAPI.IService>;
  private _tab = 'users';
}

namespace Private {
  let counter = 0;

  /**
   * A new id for a panel.
   */
  export function nextId(): number {
    return ++counter;
  }

  /**
   * Yes, no, or a dash when the value could not be read.
   */
  export function yesNo(
    value: boolean | null,
    trans: TranslationBundle
  ): string {
    return value === null ? '–' : value ? trans.__('yes') : trans.__('no');
  }

  /**
   * An ISO time as local date and time, to the second.
   */
  export function when(iso: string): string {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  /**
   * Seconds as h:mm, with days when there are any.
   */
  export function duration(seconds: number | null): string {
    if (seconds === null) {
      return '';
    }
    const minutes = Math.floor(seconds / 60);
    const [days, hours] = [
      Math.floor(minutes / 1440),
      Math.floor(minutes / 60) % 24
    ];
    const hm = `${hours}:${String(minutes % 60).padStart(2, '0')}`;
    return days ? `${days}+${hm}` : hm;
  }

  /**
   * Ask for a password; `null` when cancelled. It goes to the server only.
   */
  export async function askSecret(
    title: string,
    trans: TranslationBundle
  ): Promise<string | null> {
    const field = dom.input('jp-workbench-secret', 'password');
    field.autocomplete = 'off';
    const answer = await showDialog({
      title,
      body: new Widget({ node: dom.labelled(trans.__('Password'), field) }),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('OK') })
      ],
      focusNodeSelector: '#jp-workbench-secret'
    });
    return answer.button.accept && field.value ? field.value : null;
  }
}
