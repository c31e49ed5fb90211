/**
 * Types of the jupyter-workbench REST API, version 1 (see docs/api.md).
 */

/**
 * The path of the API under the server's base URL.
 */
export const API_PATH = 'workbench/api/v1';

/**
 * The id of the command that opens an instance terminal.
 */
export const OPEN_TERMINAL_COMMAND = 'workbench:open-terminal';

/**
 * The id of the command that opens the remote desktop of an RDP instance.
 */
export const OPEN_DESKTOP_COMMAND = 'workbench:open-desktop';

/**
 * The id of the command that replays a terminal recording.
 */
export const REPLAY_RECORDING_COMMAND = 'workbench:replay-recording';

/**
 * Names of the objects exchanged with the workbench server.
 */
export namespace Workbench {
  /**
   * An instance from the inventory, as `GET instances` lists it.
   */
  export interface IInstance {
    id: string;
    name: string;
    host: string;
    port: number;
    user: string | null;
    protocol: 'ssh' | 'rdp';
    region: string | null;
    account: string | null;
    tags: Record<string, string>;
    jump: string | null;
    source: 'inventory' | 'config' | 'ssh_config' | 'demo';
    demo: boolean;
    logged_in: boolean;
    login_user: string | null;
    /**
     * The policy actions this user may do on the instance (absent from
     * servers without access policies).
     */
    allowed_actions?: string[];
  }

  /**
   * A terminal recording, as `GET recordings` lists it.
   */
  export interface IRecording {
    id: string;
    size: number;
    timestamp: number | null;
    title: string | null;
  }

  /**
   * The policy action that logging in and terminals need.
   */
  export const LOGIN_ACTION = 'ecs-workbench:LoginInstance';

  /**
   * A terminal session on an instance.
   */
  export interface ITerminal {
    id: string;
    instance: string;
    login_user: string;
    created: string;
    rows: number;
    cols: number;
    attached: number;
    alive: boolean;
  }

  /**
   * The answer of `POST rdp`: the page to show in a frame (`guacd` mode),
   * or a Guacamole web app's URL (`webapp` mode).
   */
  export interface IDesktop {
    mode: 'guacd' | 'webapp';
    id: string;
    instance: string;
    username: string;
    page?: string;
    url?: string;
  }

  /**
   * The body of `POST instances/{name}/login`; give one kind of secret.
   */
  export interface ILoginRequest {
    username?: string;
    password?: string;
    private_key?: string;
    key_path?: string;
    passphrase?: string;
    agent?: boolean;
  }

  /**
   * One keyboard-interactive prompt.
   */
  export interface IPrompt {
    prompt: string;
    echo: boolean;
  }

  /**
   * The answer to a login that succeeded.
   */
  export interface IConnected {
    status: 'connected';
    instance: IInstance;
  }

  /**
   * The answer to a login that needs keyboard-interactive responses.
   */
  export interface IChallenge {
    status: 'challenge';
    challenge: string;
    name: string;
    instructions: string;
    prompts: IPrompt[];
  }

  /**
   * The answer to a login request or to a challenge response.
   */
  export type LoginAnswer = IConnected | IChallenge;

  /**
   * The error codes of the API.
   */
  export type ErrorCode =
    | 'bad_request'
    | 'auth_failed'
    | 'network_refused'
    | 'forbidden'
    | 'not_found'
    | 'host_key_unknown'
    | 'host_key_changed'
    | 'not_logged_in'
    | 'unreachable'
    | 'ssh_error';

  /**
   * One step of `GET instances/{name}/diagnose`; `ok` is null when the
   * step was not tried.
   */
  export interface IDiagnosisStep {
    step: 'resolve' | 'route' | 'tcp' | 'ssh' | 'auth' | string;
    ok: boolean | null;
    detail: string;
    hint?: string;
  }

  /**
   * The answer of `GET instances/{name}/diagnose`.
   */
  export interface IDiagnosis {
    ok: boolean;
    steps: IDiagnosisStep[];
  }

  /**
   * The details of a `host_key_unknown` or `host_key_changed` error.
   */
  export interface IHostKeyDetails {
    fingerprint: string;
    key_type?: string;
    host?: string;
    port?: number;
    known_fingerprints?: string[];
  }
}
