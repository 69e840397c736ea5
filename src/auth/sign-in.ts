import type { SessionRow, UserRow } from '../db/schema';
import type { Ledger } from '../ledger/store';
import type { Telemetry } from '../telemetry/telemetry';
import type { Principal } from './permissions';
import type { SessionStore } from './sessions';
import type { UserStore } from './users';
import type { MfaCheck } from './vocabulary';

/** Growing delays for one account from one source (src/rate-limit); absent, nothing is delayed. */
export interface LoginThrottle {
  check(username: string, ip: string): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;
  failed(username: string, ip: string): Promise<void>;
  succeeded(username: string, ip: string): Promise<void>;
}

/** What a new session must do before it is a full one. */
export type NextStep = 'none' | 'mfa_verify' | 'mfa_enroll';

export type LoginResult =
  | { ok: true; token: string; session: SessionRow; user: UserRow; next: NextStep }
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

type SessionPrincipal = Extract<Principal, { kind: 'session' }>;

export interface SignIn {
  login(username: string, password: string, ip: string): Promise<LoginResult>;
  verifyMfa(principal: SessionPrincipal, code: string, ip: string): Promise<MfaCheck | 'not_enrolled'>;
  beginMfa(principal: SessionPrincipal): ReturnType<UserStore['beginMfa']>;
  confirmMfa(principal: SessionPrincipal, code: string): ReturnType<UserStore['confirmMfa']>;
  logout(principal: SessionPrincipal): Promise<void>;
  /** Disables a user and ends every session they hold at once. */
  disableUser(id: string, by: string): ReturnType<UserStore['disable']>;
}

export interface SignInOptions {
  users: UserStore;
  sessions: SessionStore;
  ledger: Ledger;
  telemetry: Telemetry;
  throttle?: LoginThrottle;
  /** LEXECON_REQUIRE_MFA_FOR_ADMIN: an admin without MFA must enroll before the session is usable. */
  requireMfaForAdmin: boolean;
}

/** Sign-in and MFA flows over the user and session stores; every security event goes to the ledger. */
export function createSignIn(options: SignInOptions): SignIn {
  const { users, sessions, ledger, telemetry, throttle } = options;

  function nextStep(user: UserRow): NextStep {
    if (user.mfaEnabledAt) return 'mfa_verify';
    if (user.role === 'admin' && options.requireMfaForAdmin) return 'mfa_enroll';
    return 'none';
  }

  async function activeUser(principal: SessionPrincipal): Promise<UserRow> {
    const user = await users.get(principal.userId);
    if (!user) throw new Error(`session ${principal.id} names no user`);
    return user;
  }

  return {
    async login(username, password, ip) {
      const verdict = await throttle?.check(username, ip);
      if (verdict && !verdict.allowed) {
        telemetry.authAttempt('password', 'failure', 'throttled');
        return { ok: false, reason: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds };
      }
      // A full hashing line throws HashingBusyError before anything is looked up (the shell answers 429).
      const checked = await users.checkPassword(username, password);
      if ('reason' in checked) {
        const { reason } = checked;
        telemetry.authAttempt('password', 'failure', reason);
        await throttle?.failed(username, ip);
        // The ledger names the account only when it exists: attackers' guesses are not recorded.
        await ledger.append({
          eventType: 'login_failed',
          data: { user_id: checked.user?.id ?? null, reason, client_ip: ip },
        });
        return { ok: false, reason: 'invalid_credentials' };
      }
      const { user } = checked;
      await throttle?.succeeded(username, ip);
      const next = nextStep(user);
      const { token, session } = await sessions.create(user, next === 'none' ? 'active' : 'pending');
      telemetry.authAttempt('password', 'success');
      if (next === 'mfa_verify') telemetry.mfaChallenged();
      await ledger.append({
        eventType: 'login_succeeded',
        data: { user_id: user.id, session_id: session.id, method: 'password', next, client_ip: ip },
      });
      return { ok: true, token, session, user, next };
    },

    async verifyMfa(principal, code, ip) {
      const user = await activeUser(principal);
      if (!user.mfaEnabledAt) return 'not_enrolled';
      const result = await users.verifyMfa(user, code);
      telemetry.mfaVerified(result);
      const passed = result === 'success' || result === 'backup_code';
      if (passed) await sessions.activate(principal.id);
      await ledger.append({
        eventType: passed ? 'mfa_verified' : 'mfa_failed',
        data: {
          user_id: user.id,
          session_id: principal.id,
          method: result === 'backup_code' ? 'backup_code' : 'totp',
          ...(passed ? {} : { reason: result }),
          client_ip: ip,
        },
      });
      return result;
    },

    async beginMfa(principal) {
      return users.beginMfa(await activeUser(principal));
    },

    async confirmMfa(principal, code) {
      const result = await users.confirmMfa(await activeUser(principal), code);
      if (typeof result === 'object') {
        telemetry.mfaVerified('success');
        await sessions.activate(principal.id);
      } else if (result === 'invalid_code' || result === 'replayed') {
        telemetry.mfaVerified(result);
      }
      return result;
    },

    async logout(principal) {
      await sessions.end(principal.id, 'logout');
      await ledger.append({ eventType: 'logout', data: { user_id: principal.userId, session_id: principal.id } });
    },

    async disableUser(id, by) {
      const disabled = await users.disable(id, by);
      if (disabled) await sessions.endAllOf(id, 'user_disabled');
      return disabled;
    },
  };
}
