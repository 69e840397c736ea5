import { type CliIo, CommandFailed, type OptionValues, requiredOption, stringOption } from './command';

/** The --url and --token options of a command that reads the service. */
export const SERVICE_OPTIONS = { url: { type: 'string' }, token: { type: 'string' } } as const;

export interface ServiceClient {
  text(path: string): Promise<string>;
  json<T>(path: string): Promise<T>;
}

/** A client of the service's API at --url, sending --token (or LEXECON_TOKEN) as a Bearer token. */
export function serviceClient(options: OptionValues, io: CliIo): ServiceClient {
  const base = requiredOption(options, 'url').replace(/\/+$/, '');
  const token = stringOption(options, 'token') ?? io.env.LEXECON_TOKEN;
  const get = async (path: string): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    } catch (error) {
      throw new CommandFailed(`GET ${base}${path}: ${(error as Error).cause ?? (error as Error).message}`);
    }
    if (!response.ok) throw new CommandFailed(`GET ${path}: ${response.status} ${await errorMessage(response)}`);
    return response;
  };
  return {
    text: async (path) => (await get(path)).text(),
    async json(path) {
      const text = await (await get(path)).text();
      try {
        return JSON.parse(text);
      } catch {
        throw new CommandFailed(`GET ${path}: the answer is not JSON`);
      }
    },
  };
}

/** The service's error message (`{error: {code, message}}`), or the status text. */
async function errorMessage(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (error?.message) return `${error.code ?? ''} ${error.message}`.trim();
  } catch {}
  return response.statusText;
}
