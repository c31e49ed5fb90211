/**
 * The instance picker: a filter over the SSH instances and the running
 * terminals that can be attached to.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import * as dom from './dom';
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
 * @param title - the dialog's title (by default "Instance Terminal").
 * @returns the pick, or `null` when cancelled.
 */
export async function pickInstance(
  instances: Workbench.IInstance[],
  terminals: Workbench.ITerminal[],
  trans: TranslationBundle,
  title?: string
): Promise<Pick | null> {
  const body = new PickerBody(instances, terminals, trans);
  const result = await showDialog({
    title: title ?? trans.__('Instance Terminal'),
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

    const list = dom.node('div', 'jp-workbench-picker-list', []);
    list.setAttribute('role', 'radiogroup');
    instances.forEach((instance, index) => {
      const row = Private.radioRow(`instance:${index}`, [
        dom.node('span', 'jp-workbench-picker-name', [instance.name]),
        dom.node('span', 'jp-workbench-picker-detail', [
          Private.describe(instance, trans)
        ])
      ]);
      row.dataset.instance = instance.name;
      row.dataset.search = Private.searchText(instance);
      Private.disableUnless(row, Private.mayLogin(instance));
      list.appendChild(row);
    });
    if (terminals.length > 0) {
      list.prepend(
        dom.node('div', 'jp-workbench-picker-heading', [
          trans.__('New terminal on')
        ])
      );
      list.appendChild(
        dom.node('div', 'jp-workbench-picker-heading', [
          trans.__('Attach to a running terminal')
        ])
      );
    }
    terminals.forEach((terminal, index) => {
      const row = Private.radioRow(`terminal:${index}`, [
        dom.node('span', 'jp-workbench-picker-name', [
          trans.__('%1 terminal', terminal.instance)
        ]),
        dom.node('span', 'jp-workbench-picker-detail', [
          trans.__(
            '%1, started %2',
            terminal.login_user,
            new Date(terminal.created).toLocaleString()
          )
        ])
      ]);
      row.dataset.terminal = terminal.id;
      row.dataset.search = terminal.instance.toLowerCase();
      const on = instances.find(i => i.name === terminal.instance);
      Private.disableUnless(row, on === undefined || Private.mayLogin(on));
      list.appendChild(row);
    });
    this.node.appendChild(list);

    const first = list.querySelector<HTMLInputElement>('input:not(:disabled)');
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
      first =
        first ?? (visible ? row.querySelector('input:not(:disabled)') : null);
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
        '.jp-workbench-picker-row:not([hidden]) input:not(:disabled)'
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

namespace Private {
  /**
   * A radio row of the picker.
   */
  export function radioRow(value: string, children: Node[]): HTMLElement {
    const radio = document.createElement('input');
    radio.type = 'radio';
    radio.name = 'jp-workbench-pick';
    radio.value = value;
    return dom.node('label', 'jp-workbench-picker-row', [radio, ...children]);
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
    if (!mayLogin(instance)) {
      parts.push(trans.__('not allowed by the access policies'));
    }
    return parts.join(' · ');
  }

  /**
   * Whether the access policies let this user log in to the instance.
   */
  export function mayLogin(instance: Workbench.IInstance): boolean {
    const allowed = instance.allowed_actions;
    return allowed === undefined || allowed.includes(Workbench.LOGIN_ACTION);
  }

  /**
   * Disable a picker row (its radio and its look) when *allowed* is false.
   */
  export function disableUnless(row: HTMLElement, allowed: boolean): void {
    const radio = row.querySelector('input');
    if (radio && !allowed) {
      radio.disabled = true;
      row.classList.add('jp-mod-disabled');
      row.setAttribute('aria-disabled', 'true');
    }
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
