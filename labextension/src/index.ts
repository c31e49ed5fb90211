/**
 * The jupyter-workbench JupyterLab extension: terminals on remote instances.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITerminal, Terminal } from '@jupyterlab/terminal';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { broadcastGroup } from './broadcast';
import { WorkbenchTerminalConnection } from './connection';
import { showWorkbenchError } from './dialogs';
import { filesPlugin } from './files';
import { Pick, pickInstance } from './picker';
import { logIn } from './login';
import { addLoginCommands } from './manage';
import { addDesktopCommand } from './rdp';
import { addReplayCommand } from './replay';
import { requestAPI, WorkbenchError } from './request';
import { addSystemCommand } from './system';
import { OPEN_TERMINAL_COMMAND, Workbench } from './tokens';
import instanceTerminalSvg from '../style/icons/instance-terminal.svg';

export { WorkbenchTerminalConnection } from './connection';
export { requestAPI, WorkbenchError } from './request';
export * from './tokens';

/**
 * The settings of JupyterLab's own terminals, which ours follow.
 */
const TERMINAL_SETTINGS = '@jupyterlab/terminal-extension:plugin';

/**
 * The terminal options taken from JupyterLab's terminal settings.
 */
const SHARED_OPTIONS: (keyof ITerminal.IOptions)[] = [
  'theme',
  'fontFamily',
  'fontSize',
  'lineHeight',
  'scrollback',
  'cursorBlink',
  'screenReaderMode',
  'pasteWithCtrlV',
  'macOptionIsMeta'
];

/**
 * The icon of instance terminals: a terminal with a remote node.
 */
export const instanceTerminalIcon = new LabIcon({
  name: 'jupyter-workbench:instance-terminal',
  svgstr: instanceTerminalSvg
});

/**
 * A main-area panel holding a terminal on an instance.
 */
type TerminalPanel = MainAreaWidget<Terminal>;

/**
 * The plugin: the "Instance Terminal" command, launcher and palette items,
 * and panels that reattach to their sessions after a page reload.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-workbench:plugin',
  description: 'Terminals on remote instances, inside JupyterLab.',
  autoStart: true,
  requires: [ITranslator],
  optional: [
    ILauncher,
    ICommandPalette,
    ILayoutRestorer,
    IThemeManager,
    ISettingRegistry
  ],
  activate
};

export default [plugin, filesPlugin];

/**
 * Register the command and restore the panels of the last session.
 */
function activate(
  app: JupyterFrontEnd,
  translator: ITranslator,
  launcher: ILauncher | null,
  palette: ICommandPalette | null,
  restorer: ILayoutRestorer | null,
  themeManager: IThemeManager | null,
  settingRegistry: ISettingRegistry | null
): void {
  const trans = translator.load('jupyter_workbench');
  const settings = app.serviceManager.serverSettings;
  const tracker = new WidgetTracker<TerminalPanel>({
    namespace: 'workbench-terminal'
  });
  const options = Private.followTerminalSettings(settingRegistry, tracker);

  /**
   * Show the panel of a session, creating it if needed.
   */
  const attach = async (terminalId: string, instance: string) => {
    const open = tracker.find(
      panel => panel.content.session.name === terminalId
    );
    if (open) {
      app.shell.activateById(open.id);
      return open;
    }

    const connection = new WorkbenchTerminalConnection({
      terminalId,
      serverSettings: settings,
      trans
    });
    const panel = Private.createPanel(
      connection,
      instance,
      await options,
      translator,
      trans
    );
    app.shell.add(panel, 'main');
    await tracker.add(panel);
    app.shell.activateById(panel.id);
    return panel;
  };

  /**
   * Pick an instance, log in if needed, and open a new terminal on it.
   */
  const openNew = async (name?: string) => {
    const pick = await Private.pick(name, tracker, settings, trans);
    if (!pick) {
      return null;
    }
    if ('terminal' in pick) {
      return attach(pick.terminal.id, pick.terminal.instance);
    }

    const instance = pick.instance;
    if (!instance.logged_in && !(await logIn(instance, settings, trans))) {
      return null;
    }
    let terminal: Workbench.ITerminal;
    try {
      terminal = await Private.createTerminal(instance, settings);
    } catch (reason) {
      // The login may have expired since the instance list was read.
      if (!(reason instanceof WorkbenchError)) {
        throw reason;
      }
      if (reason.error !== 'not_logged_in') {
        throw reason;
      }
      if (!(await logIn(instance, settings, trans))) {
        return null;
      }
      terminal = await Private.createTerminal(instance, settings);
    }
    return attach(terminal.id, instance.name);
  };

  app.commands.addCommand(OPEN_TERMINAL_COMMAND, {
    label: trans.__('Instance Terminal'),
    caption: trans.__('Open a terminal on a remote instance'),
    icon: args => (args.isPalette ? undefined : instanceTerminalIcon),
    execute: async args => {
      const terminalId = args.terminalId as string | undefined;
      const instance = args.instance as string | undefined;
      if (terminalId) {
        return attach(terminalId, instance ?? '');
      }
      try {
        return await openNew(instance);
      } catch (reason) {
        await showWorkbenchError(
          trans.__('Cannot open the terminal'),
          reason,
          trans
        );
        return null;
      }
    }
  });

  launcher?.add({
    command: OPEN_TERMINAL_COMMAND,
    category: translator.load('jupyterlab').__('Other'),
    rank: 1
  });
  palette?.addItem({
    command: OPEN_TERMINAL_COMMAND,
    category: trans.__('Workbench')
  });
  const desktopCommand = addDesktopCommand(app, settings, trans);
  launcher?.add({
    command: desktopCommand,
    category: translator.load('jupyterlab').__('Other'),
    rank: 2
  });
  palette?.addItem({
    command: desktopCommand,
    category: trans.__('Workbench')
  });

  palette?.addItem({
    command: addSystemCommand(app, settings, trans),
    category: trans.__('Workbench')
  });
  for (const command of addLoginCommands(app, settings, trans)) {
    palette?.addItem({ command, category: trans.__('Workbench') });
  }
  palette?.addItem({
    command: addReplayCommand(app, settings, trans, themeManager),
    category: trans.__('Workbench')
  });

  void restorer?.restore(tracker, {
    command: OPEN_TERMINAL_COMMAND,
    args: panel => Private.restoreArgs(panel),
    name: panel => panel.content.session.name
  });

  // The "inherit" theme reads JupyterLab's CSS variables when it is set.
  themeManager?.themeChanged.connect(() => {
    tracker.forEach(panel => {
      panel.content.setOption('theme', panel.content.getOption('theme'));
    });
  });
}

namespace Private {
  /**
   * The command arguments that reopen a panel after a reload.
   */
  export function restoreArgs(panel: TerminalPanel): ReadonlyPartialJSONObject {
    return {
      terminalId: panel.content.session.name,
      instance: panel.node.dataset.instance ?? ''
    };
  }

  /**
   * Create the panel of a terminal session.
   *
   * Closing the panel ends the session; reloading the page does not.
   */
  export function createPanel(
    connection: WorkbenchTerminalConnection,
    instance: string,
    options: Partial<ITerminal.IOptions>,
    translator: ITranslator,
    trans: TranslationBundle
  ): TerminalPanel {
    const content = new Terminal(
      connection,
      { ...options, closeOnExit: false, shutdownOnClose: true },
      translator
    );
    const panel = new MainAreaWidget({ content });
    panel.id = `jp-workbench-terminal-${connection.terminalId}`;
    panel.addClass('jp-workbench-terminal');
    panel.node.dataset.terminalId = connection.terminalId;
    panel.node.dataset.instance = instance;

    // The widget names itself after the session id or the shell's title;
    // keep the instance name, which is what the user picked.
    const label = trans.__('%1 terminal', instance);
    content.title.label = label;
    content.title.icon = instanceTerminalIcon;
    content.title.changed.connect(() => {
      if (content.title.label !== label) {
        content.title.label = label;
      }
    });

    const showStatus = () => {
      panel.node.dataset.status = connection.endReason
        ? 'ended'
        : connection.connectionStatus;
      const info = connection.info;
      content.title.caption = info
        ? trans.__('%1 on %2', info.login_user, info.instance)
        : label;
    };
    showStatus();
    connection.connectionStatusChanged.connect(showStatus);
    panel.disposed.connect(() => connection.dispose());
    broadcastGroup.add(panel, connection, trans);
    return panel;
  }

  /**
   * Ask which instance or running terminal to open.
   *
   * A given instance name skips the picker.
   */
  export async function pick(
    name: string | undefined,
    tracker: WidgetTracker<TerminalPanel>,
    settings: ServerConnection.ISettings,
    trans: TranslationBundle
  ): Promise<Pick | null> {
    const [{ instances }, { terminals }] = await Promise.all([
      requestAPI<{ instances: Workbench.IInstance[] }>(
        'instances',
        {},
        settings
      ),
      requestAPI<{ terminals: Workbench.ITerminal[] }>(
        'terminals',
        {},
        settings
      )
    ]);
    const ssh = instances.filter(instance => instance.protocol === 'ssh');
    const named = ssh.find(instance => instance.name === name);
    if (named) {
      return { instance: named };
    }
    if (name) {
      throw new WorkbenchError(
        'not_found',
        trans.__('There is no SSH instance named %1.', name)
      );
    }
    if (ssh.length === 0) {
      throw new WorkbenchError(
        'not_found',
        trans.__(
          'There is no SSH instance in the inventory. Add one to the ' +
            'inventory file, or start JupyterLab with ' +
            '`jupyter workbench demo` to try the demo instance.'
        )
      );
    }

    const isOpen = (id: string) =>
      tracker.find(panel => panel.content.session.name === id) !== undefined;
    const running = terminals.filter(
      terminal => terminal.alive && !isOpen(terminal.id)
    );
    return pickInstance(ssh, running, trans);
  }

  /**
   * Start a terminal session on a logged-in instance.
   */
  export function createTerminal(
    instance: Workbench.IInstance,
    settings: ServerConnection.ISettings
  ): Promise<Workbench.ITerminal> {
    return requestAPI<Workbench.ITerminal>(
      'terminals',
      { method: 'POST', body: { instance: instance.name, rows: 24, cols: 80 } },
      settings
    );
  }

  /**
   * Read JupyterLab's terminal settings and apply their changes to the
   * open panels.
   *
   * @returns the options for new terminals; empty without the settings.
   */
  export async function followTerminalSettings(
    registry: ISettingRegistry | null,
    tracker: WidgetTracker<TerminalPanel>
  ): Promise<Partial<ITerminal.IOptions>> {
    const options: Partial<ITerminal.IOptions> = {};
    if (!registry) {
      return options;
    }

    const read = (composite: ReadonlyPartialJSONObject) => {
      for (const key of SHARED_OPTIONS) {
        if (composite[key] !== undefined && composite[key] !== null) {
          (options as Record<string, unknown>)[key] = composite[key];
        }
      }
    };
    try {
      const terminalSettings = await registry.load(TERMINAL_SETTINGS);
      read(terminalSettings.composite);
      terminalSettings.changed.connect(() => {
        read(terminalSettings.composite);
        tracker.forEach(panel => {
          for (const key of SHARED_OPTIONS) {
            if (options[key] !== undefined) {
              panel.content.setOption(key, options[key] as never);
            }
          }
        });
      });
    } catch (reason) {
      // JupyterLab's terminal extension is disabled: keep the defaults.
      console.debug('No JupyterLab terminal settings', reason);
    }
    return options;
  }
}
