/**
 * Instance Files: a file browser panel per logged-in instance, over an
 * `InstanceDrive`, in the left area.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { FileBrowser, IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { ServerConnection } from '@jupyterlab/services';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { folderIcon } from '@jupyterlab/ui-components';

import { showWorkbenchError } from './dialogs';
import { driveName, InstanceDrive } from './drive';
import { logIn } from './login';
import { pickInstance } from './picker';
import { requestAPI } from './request';
import { Workbench } from './tokens';

/**
 * The command that opens the file browser of an instance.
 */
export const OPEN_FILES_COMMAND = 'workbench:open-files';

/**
 * The plugin: an "Instance Files…" command, and a browser for every
 * instance already logged in when JupyterLab starts.
 */
export const filesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-workbench:files',
  description: 'Remote instance files as JupyterLab drives.',
  autoStart: true,
  requires: [ITranslator, IFileBrowserFactory],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    translator: ITranslator,
    factory: IFileBrowserFactory,
    palette: ICommandPalette | null
  ) => {
    const trans = translator.load('jupyter_workbench');
    const settings = app.serviceManager.serverSettings;
    const browsers = new Map<string, FileBrowser>();

    const open = async (
      instance: Workbench.IInstance
    ): Promise<FileBrowser> => {
      let browser = browsers.get(instance.name);
      if (!browser || browser.isDisposed) {
        browser = addBrowser(app, factory, instance, settings, trans);
        browsers.set(instance.name, browser);
      }
      app.shell.activateById(browser.id);
      return browser;
    };

    app.commands.addCommand(OPEN_FILES_COMMAND, {
      label: args =>
        args.instance
          ? trans.__('Files of %1', args.instance as string)
          : trans.__('Instance Files…'),
      caption: trans.__(
        'Browse, upload, edit and download files on an instance'
      ),
      execute: async args => {
        try {
          const instance = await chooseInstance(
            args.instance as string | undefined,
            settings,
            trans
          );
          return instance ? await open(instance) : null;
        } catch (reason) {
          await showWorkbenchError(
            trans.__('Cannot open the files of the instance'),
            reason,
            trans
          );
          return null;
        }
      }
    });
    palette?.addItem({
      command: OPEN_FILES_COMMAND,
      category: trans.__('Workbench')
    });

    void app.restored.then(async () => {
      try {
        for (const instance of await sshInstances(settings)) {
          if (instance.logged_in) {
            await open(instance);
          }
        }
      } catch {
        // The server may lack the extension's routes: no drives then.
      }
    });
  }
};

/**
 * Register the drive of *instance* and show its browser in the left area.
 */
function addBrowser(
  app: JupyterFrontEnd,
  factory: IFileBrowserFactory,
  instance: Workbench.IInstance,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): FileBrowser {
  const drive = new InstanceDrive(instance.name, settings);
  app.serviceManager.contents.addDrive(drive);
  const browser = factory.createFileBrowser(
    `workbench-files-${instance.name}`,
    {
      driveName: driveName(instance.name),
      refreshInterval: 30000
    }
  );
  // The browser model compares changed paths with the drive prefix added
  // twice and so misses our drive's changes: refresh on them directly.
  drive.fileChanged.connect(() => void browser.model.refresh());
  showUploads(browser, drive, trans);
  browser.title.icon = folderIcon;
  browser.title.caption = trans.__('Files of %1', instance.name);
  browser.node.dataset.workbenchInstance = instance.name;
  browser.addClass('jp-WorkbenchFiles');
  app.shell.add(browser, 'left', { rank: 110 });

  // Start in the login user's home, like sftp does; stay at / if absent.
  const home = instance.login_user
    ? instance.login_user === 'root'
      ? 'root'
      : `home/${instance.login_user}`
    : '';
  if (home) {
    void browser.model.cd(`/${home}`).catch(() => undefined);
  }
  return browser;
}

/**
 * Show each chunked upload of *browser* as a notification with its
 * progress and a Cancel button that stops it through the drive.
 */
function showUploads(
  browser: FileBrowser,
  drive: InstanceDrive,
  trans: TranslationBundle
): void {
  const shown = new Map<string, string>(); // upload path -> notification id
  const local = (path: string) => path.slice(path.indexOf(':') + 1);
  const name = (path: string) => path.split('/').pop() ?? path;
  const cancelling = new Set<string>();
  const cancel = (path: string): Notification.IAction => ({
    label: trans.__('Cancel'),
    caption: trans.__(
      'Stop this upload; the file on the instance stays as it was'
    ),
    displayType: 'warn',
    callback: (event: MouseEvent) => {
      // Keep the notification: it tells when the upload has stopped.
      event.preventDefault();
      cancelling.add(path);
      const id = shown.get(path);
      if (id) {
        Notification.update({
          id,
          message: trans.__('Cancelling the upload of %1…', name(path)),
          actions: []
        });
      }
      void drive
        .cancelUpload(local(path))
        .catch(reason =>
          showWorkbenchError(
            trans.__('Cannot cancel the upload'),
            reason,
            trans
          )
        );
    }
  });
  browser.model.uploadChanged.connect((_, change) => {
    const upload = (change.newValue ?? change.oldValue) as {
      path: string;
      progress: number;
    } | null;
    if (!upload) {
      return;
    }
    const path = upload.path;
    const message = trans.__(
      'Uploading %1 to %2: %3%',
      name(path),
      drive.instance,
      Math.round(upload.progress * 100)
    );
    const id = shown.get(path);
    if (change.name === 'start' || (change.name === 'update' && !id)) {
      cancelling.delete(path);
      shown.set(
        path,
        Notification.emit(message, 'in-progress', {
          autoClose: false,
          progress: upload.progress,
          actions: [cancel(path)]
        })
      );
      return;
    }
    if (!id || (change.name === 'update' && cancelling.has(path))) {
      return;
    }
    if (change.name === 'update') {
      Notification.update({
        id,
        message,
        type: 'in-progress',
        autoClose: false,
        progress: upload.progress,
        actions: [cancel(path)]
      });
      return;
    }
    shown.delete(path);
    cancelling.delete(path);
    const done = change.name === 'finish';
    const stopped = !done && drive.wasCancelled(local(path));
    const final = done
      ? trans.__('Uploaded %1 to %2', name(path), drive.instance)
      : stopped
        ? trans.__(
            'Upload of %1 cancelled: the file on %2 is unchanged',
            name(path),
            drive.instance
          )
        : trans.__('Upload of %1 failed', name(path));
    const type = done ? 'success' : stopped ? 'info' : 'error';
    // The user may have closed the progress notification meanwhile.
    if (
      !Notification.update({
        id,
        message: final,
        type,
        autoClose: 5000,
        progress: undefined,
        actions: []
      })
    ) {
      Notification.emit(final, type, { autoClose: 5000 });
    }
  });
}

/**
 * The instance to open: the named one, or the user's pick; logged in.
 */
async function chooseInstance(
  name: string | undefined,
  settings: ServerConnection.ISettings,
  trans: TranslationBundle
): Promise<Workbench.IInstance | null> {
  const instances = await sshInstances(settings);
  let instance = instances.find(i => i.name === name);
  if (!instance) {
    const pick = await pickInstance(
      instances,
      [],
      trans,
      trans.__('Instance Files')
    );
    if (!pick || !('instance' in pick)) {
      return null;
    }
    instance = pick.instance;
  }
  if (!instance.logged_in && !(await logIn(instance, settings, trans))) {
    return null;
  }
  const fresh = (await sshInstances(settings)).find(
    i => i.name === instance?.name
  );
  return fresh ?? instance;
}

/**
 * The SSH instances of the inventory with the user's login state.
 */
async function sshInstances(
  settings: ServerConnection.ISettings
): Promise<Workbench.IInstance[]> {
  const { instances } = await requestAPI<{
    instances: Workbench.IInstance[];
  }>('instances', {}, settings);
  return instances.filter(i => (i.protocol ?? 'ssh') === 'ssh');
}
