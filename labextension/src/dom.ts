/**
 * Small DOM builders shared by the dialogs.
 */

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
