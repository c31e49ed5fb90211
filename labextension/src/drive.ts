/**
 * A JupyterLab drive over an instance's files (the `files/*` routes of
 * docs/api.md): browse, open, save, upload in chunks, rename, delete.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI, segment, WorkbenchError } from './request';
import { API_PATH } from './tokens';

/**
 * The records of the files API.
 */
export namespace FilesAPI {
  /**
   * A remote entry; `*_b64` are present when the bytes are not UTF-8.
   */
  export interface IEntry {
    name: string;
    name_b64?: string;
    path: string;
    path_b64?: string;
    type: 'file' | 'directory' | 'symlink' | 'other';
    size: number;
    mode: number;
    permissions: string;
    mtime: number;
    owner: string | null;
    group: string | null;
    target?: string;
    target_type?: string;
  }

  /**
   * A file with its content, as `files/content` answers.
   */
  export interface IContent extends IEntry {
    content?: string;
    format?: 'text' | 'base64';
    sha256: string;
  }
}

/**
 * The drive name of an instance: `ssh-<instance>`.
 */
export function driveName(instance: string): string {
  return `ssh-${instance}`;
}

/**
 * A `Contents.IDrive` whose root is `/` on one instance.
 *
 * Local paths are remote paths without the leading slash. Names that are
 * not UTF-8 are shown with U+FFFD; the drive remembers their exact bytes
 * from listings and sends those back.
 */
export class InstanceDrive implements Contents.IDrive {
  /**
   * Create the drive of *instance*.
   */
  constructor(
    readonly instance: string,
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {
    this.name = driveName(instance);
  }

  /**
   * The drive name, `ssh-<instance>`.
   */
  readonly name: string;

  /**
   * Emitted when a file changes through this drive.
   */
  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  /**
   * Whether the drive is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Dispose the drive.
   */
  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  /**
   * Return the model of a file or folder, with its content unless
   * `content: false`.
   */
  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const entry = await this._call<FilesAPI.IEntry>(
      'stat',
      localPath,
      'GET',
      '&follow=1'
    );
    const isDir =
      entry.type === 'directory' || entry.target_type === 'directory';
    if (options?.content === false) {
      return this._model(localPath, entry, isDir);
    }
    if (isDir) {
      const listing = await this._call<{ entries: FilesAPI.IEntry[] }>(
        'list',
        localPath,
        'GET'
      );
      const children = listing.entries.map(child => {
        const childPath = join(localPath, child.name);
        this._remember(childPath, child.path_b64);
        // A folder, or a link to one: both open as folders.
        const isDir =
          child.type === 'directory' || child.target_type === 'directory';
        return this._model(childPath, child, isDir);
      });
      return { ...this._model(localPath, entry, true), content: children };
    }
    const file = await this._call<FilesAPI.IContent>(
      'content',
      localPath,
      'GET'
    );
    return this._fileModel(localPath, file, options?.format ?? undefined);
  }

  /**
   * Return the URL that downloads a file (or a folder as a tar archive).
   */
  async getDownloadUrl(localPath: string): Promise<string> {
    return URLExt.join(
      this.serverSettings.baseUrl,
      API_PATH,
      this._route('download') + '?' + this._query(localPath)
    );
  }

  /**
   * Create an untitled file or folder.
   */
  async newUntitled(
    options: Contents.ICreateOptions = {}
  ): Promise<Contents.IModel> {
    const folder = options.path ?? '';
    const isDir = options.type === 'directory';
    const base = isDir ? 'Untitled Folder' : 'untitled';
    const ext = isDir ? '' : (options.ext ?? '.txt');
    for (let n = 0; n < 100; n++) {
      const name = `${base}${n ? ` ${n}` : ''}${ext}`;
      const path = join(folder, name);
      try {
        if (isDir) {
          await this._post('mkdir', path, {});
        } else {
          await this._call('stat', path, 'GET');
          continue; // exists: try the next name
        }
      } catch (reason) {
        if (reason instanceof WorkbenchError) {
          if (isDir && reason.error === 'remote_exists') {
            continue;
          }
          if (!isDir && reason.error === 'remote_not_found') {
            await this._put(path, '', 'text');
          } else {
            throw reason;
          }
        } else {
          throw reason;
        }
      }
      const model = await this.get(path, { content: false });
      this._fileChanged.emit({ type: 'new', oldValue: null, newValue: model });
      return model;
    }
    throw new WorkbenchError(
      'remote_exists',
      `Too many untitled files in /${folder}`
    );
  }

  /**
   * Delete a file, link or folder (with its contents).
   */
  async delete(localPath: string): Promise<void> {
    await this._post('delete', localPath, { recursive: true });
    this._fileChanged.emit({
      type: 'delete',
      oldValue: { path: localPath },
      newValue: null
    });
  }

  /**
   * Rename or move; an existing target is not replaced.
   */
  async rename(
    oldLocalPath: string,
    newLocalPath: string
  ): Promise<Contents.IModel> {
    await this._post('rename', oldLocalPath, this._wire(newLocalPath, 'to'));
    const model = await this.get(newLocalPath, { content: false });
    this._fileChanged.emit({
      type: 'rename',
      oldValue: { path: oldLocalPath },
      newValue: model
    });
    return model;
  }

  /**
   * Save a file: whole (text, base64 or notebook JSON), or one chunk of
   * JupyterLab's chunked upload (1, 2, … and -1 for the last).
   */
  async save(
    localPath: string,
    options: Partial<Contents.IModel> = {}
  ): Promise<Contents.IModel> {
    const chunk = options.chunk;
    if (options.type === 'directory') {
      await this._post('mkdir', localPath, { parents: true });
    } else if (chunk !== undefined) {
      await this._saveChunk(localPath, chunk, options.content ?? '');
    } else {
      const format = options.format === 'base64' ? 'base64' : 'text';
      const content =
        options.format === 'json'
          ? JSON.stringify(options.content, null, 1)
          : (options.content ?? '');
      await this._put(localPath, content, format);
    }
    if (chunk !== undefined && chunk !== -1) {
      // The file itself appears only with the last chunk.
      return this._pending(localPath);
    }
    const model = await this.get(localPath, { content: false });
    this._fileChanged.emit({ type: 'save', oldValue: null, newValue: model });
    return model;
  }

  /**
   * Cancel the chunked upload to *localPath* that is in progress.
   *
   * The chunk on its way finishes; the next one is not sent, the upload's
   * temporary file on the instance is removed and the save of that chunk
   * fails with `upload_cancelled`. The file at *localPath* stays as it was.
   * An upload whose last chunk was already sent is not undone.
   */
  async cancelUpload(localPath: string): Promise<void> {
    const upload = this._uploads.get(localPath) ?? { cancelled: false };
    upload.cancelled = true;
    this._uploads.set(localPath, upload);
    await this._discard(localPath, upload);
  }

  /**
   * Whether the last upload to *localPath* was cancelled.
   */
  wasCancelled(localPath: string): boolean {
    return this._uploads.get(localPath)?.cancelled ?? false;
  }

  /**
   * Copy a file or folder into another folder of the same instance.
   */
  async copy(localPath: string, toLocalDir: string): Promise<Contents.IModel> {
    const name = localPath.split('/').pop() ?? 'copy';
    const dot = name.lastIndexOf('.');
    const copyName =
      dot > 0 ? `${name.slice(0, dot)}-Copy${name.slice(dot)}` : `${name}-Copy`;
    const target = join(toLocalDir, copyName);
    await this._post('copy', localPath, this._wire(target, 'to'));
    const model = await this.get(target, { content: false });
    this._fileChanged.emit({ type: 'new', oldValue: null, newValue: model });
    return model;
  }

  /**
   * Checkpoints are not kept on instances: saving is atomic instead.
   */
  async createCheckpoint(
    _localPath: string
  ): Promise<Contents.ICheckpointModel> {
    return { id: 'none', last_modified: new Date().toISOString() };
  }

  /**
   * No checkpoints are kept.
   */
  async listCheckpoints(
    _localPath: string
  ): Promise<Contents.ICheckpointModel[]> {
    return [];
  }

  /**
   * No checkpoints are kept.
   */
  async restoreCheckpoint(
    _localPath: string,
    _checkpointID: string
  ): Promise<void> {
    return;
  }

  /**
   * No checkpoints are kept.
   */
  async deleteCheckpoint(
    _localPath: string,
    _checkpointID: string
  ): Promise<void> {
    return;
  }

  private async _saveChunk(
    localPath: string,
    chunk: number,
    content: string
  ): Promise<void> {
    if (chunk === 1) {
      // A new upload: each gets its own temporary file on the instance.
      this._uploads.set(localPath, { cancelled: false });
    }
    const upload = this._uploads.get(localPath) ?? { cancelled: false };
    this._uploads.set(localPath, upload);
    if (upload.cancelled) {
      await this._discard(localPath, upload);
      throw cancelled(localPath);
    }
    const answer = (await this._post('chunk', localPath, {
      chunk,
      content,
      ...(upload.id ? { upload: upload.id } : {})
    })) as { upload?: string };
    upload.id = upload.id ?? answer.upload;
    if (chunk === -1) {
      return; // finished: a cancel that came too late changes nothing
    }
    if (upload.cancelled) {
      // Cancelled while this chunk was on its way.
      await this._discard(localPath, upload);
      throw cancelled(localPath);
    }
  }

  private async _discard(localPath: string, upload: IUpload): Promise<void> {
    if (!upload.id) {
      return; // not started on the instance yet: chunk 1 will see the flag
    }
    await requestAPI(
      `${this._route('upload')}?${this._query(localPath)}&upload=${encodeURIComponent(upload.id)}`,
      { method: 'DELETE' },
      this.serverSettings
    );
  }

  private _route(op: string): string {
    return `instances/${segment(this.instance)}/files/${op}`;
  }

  private _wire(localPath: string, key: string): Record<string, string> {
    const b64 = this._b64.get(localPath);
    return b64 ? { [`${key}_b64`]: b64 } : { [key]: '/' + localPath };
  }

  private _query(localPath: string): string {
    const wire = this._wire(localPath, 'path');
    return Object.entries(wire)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&');
  }

  private _call<T>(
    op: string,
    localPath: string,
    method: string,
    extra = ''
  ): Promise<T> {
    const endpoint = `${this._route(op)}?${this._query(localPath)}${extra}`;
    return requestAPI<T>(endpoint, { method }, this.serverSettings);
  }

  private _post(
    op: string,
    localPath: string,
    body: Record<string, unknown>
  ): Promise<unknown> {
    return requestAPI(
      this._route(op),
      { method: 'POST', body: { ...this._wire(localPath, 'path'), ...body } },
      this.serverSettings
    );
  }

  private _put(
    localPath: string,
    content: string,
    format: 'text' | 'base64'
  ): Promise<unknown> {
    return requestAPI(
      this._route('content'),
      {
        method: 'PUT',
        body: { ...this._wire(localPath, 'path'), content, format }
      },
      this.serverSettings
    );
  }

  private _pending(localPath: string): Contents.IModel {
    const now = new Date().toISOString();
    return {
      name: localPath.split('/').pop() ?? localPath,
      path: localPath,
      type: 'file',
      writable: true,
      created: now,
      last_modified: now,
      mimetype: 'application/octet-stream',
      content: null,
      format: null
    };
  }

  private _remember(localPath: string, b64: string | undefined): void {
    if (b64) {
      this._b64.set(localPath, b64);
    }
  }

  private _model(
    localPath: string,
    entry: FilesAPI.IEntry,
    isDir: boolean
  ): Contents.IModel {
    const time = new Date(entry.mtime * 1000).toISOString();
    const name = localPath.split('/').pop() || entry.name;
    return {
      name,
      path: localPath,
      type: isDir ? 'directory' : name.endsWith('.ipynb') ? 'notebook' : 'file',
      writable: true,
      created: time,
      last_modified: time,
      mimetype: isDir ? '' : 'text/plain',
      content: null,
      format: null,
      size: entry.size
    };
  }

  private _fileModel(
    localPath: string,
    file: FilesAPI.IContent,
    format: Contents.FileFormat | undefined
  ): Contents.IModel {
    const model = this._model(localPath, file, false);
    let content: unknown = file.content ?? '';
    let modelFormat: Contents.FileFormat = file.format ?? 'text';
    if (model.type === 'notebook' && file.format === 'text') {
      content = JSON.parse(file.content ?? '{}');
      modelFormat = 'json';
    } else if (format === 'base64' && file.format === 'text') {
      content = btoa(
        String.fromCharCode(...new TextEncoder().encode(file.content ?? ''))
      );
      modelFormat = 'base64';
    }
    return {
      ...model,
      content,
      format: modelFormat,
      mimetype:
        modelFormat === 'base64' ? 'application/octet-stream' : 'text/plain',
      hash: file.sha256,
      hash_algorithm: 'sha256'
    };
  }

  private _disposed = false;
  private _fileChanged = new Signal<this, Contents.IChangedArgs>(this);
  private _b64 = new Map<string, string>();
  private _uploads = new Map<string, IUpload>();
}

/**
 * A chunked upload in progress: its id on the instance, and whether the
 * user cancelled it.
 */
interface IUpload {
  id?: string;
  cancelled: boolean;
}

/**
 * The error a chunk save fails with once its upload was cancelled.
 */
function cancelled(localPath: string): WorkbenchError {
  return new WorkbenchError(
    'upload_cancelled',
    `The upload to /${localPath} was cancelled`
  );
}

/**
 * Join a folder and a name as a drive-local path.
 */
function join(folder: string, name: string): string {
  return folder ? `${folder.replace(/\/+$/, '')}/${name}` : name;
}
