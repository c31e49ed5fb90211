/**
 * The one helper through which every REST call of the extension goes.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ReadonlyJSONObject } from '@lumino/coreutils';

import { API_PATH, Workbench } from './tokens';

/**
 * An error answer of the workbench API, or a failure to reach it.
 */
export class WorkbenchError extends Error {
  /**
   * Create an error from the fields of an API error answer.
   */
  constructor(
    readonly error: Workbench.ErrorCode | string,
    message: string,
    readonly details: ReadonlyJSONObject = {},
    readonly status = 0
  ) {
    super(message);
    this.name = 'WorkbenchError';
  }
}

/**
 * Call the workbench API and return the decoded JSON answer.
 *
 * @param endpoint - the path under `workbench/api/v1/`.
 * @param init - fetch options; a `body` object is sent as JSON.
 * @param settings - the server settings (the application's by default).
 * @throws WorkbenchError for an error answer (its `error` is the API code),
 *   or with `error` `"network"` when the server cannot be reached.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: Omit<RequestInit, 'body'> & { body?: unknown } = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_PATH, endpoint);
  const { body, ...rest } = init;
  const request: RequestInit = { ...rest };
  if (body !== undefined) {
    request.body = JSON.stringify(body);
    request.headers = { 'Content-Type': 'application/json', ...rest.headers };
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, request, settings);
  } catch (reason) {
    throw new WorkbenchError('network', String(reason));
  }

  const text = await response.text();
  const data = Private.parse(text);
  if (!response.ok) {
    throw Private.toError(response, data, text);
  }
  return data as T;
}

/**
 * Quote one path segment of an API URL.
 */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

namespace Private {
  /**
   * Decode a JSON answer; an empty or non-JSON answer gives `null`.
   */
  export function parse(text: string): unknown {
    if (!text) {
      return null;
    }
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  /**
   * Turn an error answer into a WorkbenchError.
   *
   * jupyter-server itself answers some errors (XSRF, authentication) with
   * `{"message", "reason"}` and no `error`, so fall back on the status.
   */
  export function toError(
    response: Response,
    data: unknown,
    text: string
  ): WorkbenchError {
    const fields = (data ?? {}) as {
      error?: string;
      message?: string;
      details?: ReadonlyJSONObject;
    };
    const message =
      fields.message ||
      text.slice(0, 200) ||
      `${response.status} ${response.statusText}`;
    return new WorkbenchError(
      fields.error ?? `http_${response.status}`,
      message,
      fields.details ?? {},
      response.status
    );
  }
}
